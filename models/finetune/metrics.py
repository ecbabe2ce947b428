"""Caption metrics for the fine-tune screen: BLEU-4, ROUGE-L and CIDEr-D, as COCO computes them.

Published caption scores come from the COCO caption evaluation code (``pycocoevalcap``, from
github.com/tylin/coco-caption), so the before/after numbers we show follow its definitions —
including its quirks, named where they occur, so that our figures match its figures.

Why our own code rather than a library: sacrebleu and rouge-score are well kept but compute other
variants (sacrebleu: its own tokenizer, case-sensitive, smoothing; rouge-score: F1 with beta 1),
and CIDEr only exists in pycocoevalcap (last release 2020, numpy, a Java tokenizer). The formulas
are short; tests/models/test_caption_metrics.py checks every one of them against pycocoevalcap's
output (tests/fixtures/caption_metrics/) and against textbook values.

Pure Python, no numpy: the GUI and the caption worker import this module.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

Tokens = Sequence[str]
# One evaluated caption: its tokens and the token lists of its reference captions.
Item = tuple[Tokens, Sequence[Tokens]]
NGram = tuple[str, ...]

MAX_N = 4  # BLEU-4 and CIDEr both use 1- to 4-grams.

# --- tokenizer ------------------------------------------------------------------------------

# An abbreviation made of single letters and dots (e.g., u.s., p.m.) keeps its final dot, as in
# PTB; a word may hold inner hyphens, apostrophes, dots, slashes, ampersands (black-and-white,
# o'clock, 3.5, and/or, at&t); any other non-space character is a token of its own.
_TOKEN = re.compile(r"(?:\w\.){2,}|\w+(?:[-'./&]\w+)*|[^\w\s]")
# PTB splits these clitics off their word: isn't -> is n't, man's -> man 's, they'll -> they 'll.
_CLITIC = re.compile(r"^(\w.*?)(n't|'s|'re|'ve|'ll|'d|'m)$")
# The tokens COCO's tokenizer wrapper drops (pycocoevalcap/tokenizer/ptbtokenizer.py
# PUNCTUATIONS), plus the brackets, quotes and dashes PTB renders as such tokens. Deviation: COCO
# lower-cases before matching "-LRB-" so it keeps a "-lrb-" token for "("; we drop brackets.
_DROPPED = set(".?!,:;-'\"`()[]{}…–—‘’“”«»")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})


def tokenize(text: str) -> list[str]:
    """Lower-cased words without punctuation, as COCO's PTB tokenizer gives for plain English.

    COCO tokenizes with Stanford CoreNLP's PTBTokenizer (Java) and then drops punctuation tokens;
    this regex version gives the same tokens for ordinary caption text (checked against the real
    tokenizer's output in the tests), so scores are comparable with published ones.
    """
    tokens: list[str] = []
    for token in _TOKEN.findall(text.lower().translate(_APOSTROPHES)):
        if token in _DROPPED:
            continue
        clitic = _CLITIC.match(token)
        if clitic:
            tokens.extend(clitic.groups())
        else:
            tokens.append(token)
    return tokens


# --- the public entry points ----------------------------------------------------------------


def caption_scores(
    references: Mapping[str, Sequence[str]], candidates: Mapping[str, str]
) -> dict[str, float]:
    """Corpus scores of ``candidates`` (id -> caption) against ``references`` (id -> captions).

    Every candidate id needs at least one reference; references without a candidate are ignored
    (CIDEr's document frequencies come from the references of the evaluated captions only).
    No candidates -> all 0.0.
    """
    items = list(_items(references, candidates).values())
    return {
        "bleu4": bleu4(items)[0],
        "rouge_l": rouge_l(items)[0],
        "cider": cider_d(items)[0],
    }


def per_caption_scores(
    references: Mapping[str, Sequence[str]], candidates: Mapping[str, str]
) -> dict[str, dict[str, float]]:
    """Each candidate's own BLEU-4, ROUGE-L and CIDEr-D, for the side-by-side view.

    BLEU-4 here is pycocoevalcap's per-image value (the caption's own brevity penalty); it is
    not a share of the corpus score, which pools n-gram counts. CIDEr-D still takes its document
    frequencies from the whole evaluated set, so one caption scores differently in another set.
    """
    by_id = _items(references, candidates)
    items = list(by_id.values())
    columns = zip(bleu4(items)[1], rouge_l(items)[1], cider_d(items)[1], strict=True)
    return {
        item_id: {"bleu4": b, "rouge_l": r, "cider": c}
        for item_id, (b, r, c) in zip(by_id, columns, strict=True)
    }


def _items(
    references: Mapping[str, Sequence[str]], candidates: Mapping[str, str]
) -> dict[str, Item]:
    items: dict[str, Item] = {}
    for item_id, candidate in candidates.items():
        refs = references.get(item_id)
        if isinstance(refs, str):
            raise TypeError(f"references[{item_id!r}] must be a list of captions, not a string")
        if not refs:
            raise ValueError(f"no reference caption for {item_id!r}")
        items[item_id] = (tokenize(candidate), [tokenize(ref) for ref in refs])
    return items


def _ngrams(tokens: Tokens, max_n: int = MAX_N) -> Counter[NGram]:
    """Counts of every 1- to max_n-gram (BLEU's and CIDEr's ``precook``)."""
    return Counter(
        tuple(tokens[i : i + n]) for n in range(1, max_n + 1) for i in range(len(tokens) - n + 1)
    )


# --- BLEU-4 (Papineni et al. 2002; pycocoevalcap/bleu/bleu_scorer.py) -----------------------

# pycocoevalcap adds these to every precision's numerator and denominator to avoid dividing by
# zero. Kept for identical numbers; the effect: a set without a single matching 4-gram scores
# about 1e-4 rather than exactly 0.
_TINY = 1e-15
_SMALL = 1e-9


def bleu4(items: Sequence[Item]) -> tuple[float, list[float]]:
    """Corpus BLEU-4 and each item's own BLEU-4.

    Corpus BLEU (Papineni et al. 2002, section 2): n-gram counts clipped by their maximum count in
    any one reference, pooled over the corpus; geometric mean of the 1..4-gram precisions; brevity
    penalty exp(1 - r/c) when the candidates are shorter than r, where r sums, per item, the
    reference length closest to the candidate's (ties -> the shorter; COCO's "closest" option).
    """
    correct_total = [0] * MAX_N
    guess_total = [0] * MAX_N
    length_total = ref_length_total = 0
    per_item: list[float] = []
    for candidate, refs in items:
        counts = _ngrams(candidate)
        max_ref_counts: Counter[NGram] = Counter()
        for ref in refs:
            max_ref_counts |= _ngrams(ref)  # | keeps the larger count of each n-gram
        correct = [0] * MAX_N
        for ngram, count in counts.items():
            correct[len(ngram) - 1] += min(count, max_ref_counts[ngram])
        guess = [max(0, len(candidate) - n) for n in range(MAX_N)]
        length = len(candidate)
        ref_length = min((abs(len(ref) - length), len(ref)) for ref in refs)[1]
        per_item.append(_bleu(correct, guess, length, ref_length))
        correct_total = [a + b for a, b in zip(correct_total, correct, strict=True)]
        guess_total = [a + b for a, b in zip(guess_total, guess, strict=True)]
        length_total += length
        ref_length_total += ref_length
    if not items:
        return 0.0, []
    return _bleu(correct_total, guess_total, length_total, ref_length_total), per_item


def _bleu(correct: list[int], guess: list[int], length: int, ref_length: int) -> float:
    product = 1.0
    for matched, total in zip(correct, guess, strict=True):
        product *= (matched + _TINY) / (total + _SMALL)
    score: float = product ** (1.0 / MAX_N)
    ratio = (length + _TINY) / (ref_length + _SMALL)
    if ratio < 1:
        score *= math.exp(1 - 1 / ratio)
    return score


# --- ROUGE-L (Lin 2004, section 3.1; pycocoevalcap/rouge/rouge.py) --------------------------

ROUGE_BETA = 1.2  # COCO's choice, "based on discussion with Hovy" (rouge.py)


def rouge_l(items: Sequence[Item]) -> tuple[float, list[float]]:
    """Mean over items of the ROUGE-L F-measure, and each item's.

    Lin 2004 eq. 2-4 from the longest common subsequence (LCS): P = LCS/len(candidate),
    R = LCS/len(reference), F = (1 + b^2) P R / (R + b^2 P). COCO's multi-reference rule: the
    largest P and the largest R over the references (possibly from different references).
    """
    scores = [_rouge_l_item(candidate, refs) for candidate, refs in items]
    return (math.fsum(scores) / len(scores) if scores else 0.0), scores


def _rouge_l_item(candidate: Tokens, refs: Sequence[Tokens]) -> float:
    if not candidate:
        return 0.0
    lcs = [_lcs_length(candidate, ref) for ref in refs]
    precision = max(n / len(candidate) for n in lcs)
    recall = max(n / len(ref) if ref else 0.0 for n, ref in zip(lcs, refs, strict=True))
    if precision == 0 or recall == 0:
        return 0.0
    beta2 = ROUGE_BETA**2
    return (1 + beta2) * precision * recall / (recall + beta2 * precision)


def _lcs_length(a: Tokens, b: Tokens) -> int:
    """Length of the longest common subsequence, by dynamic programming one row at a time."""
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


# --- CIDEr-D (Vedantam et al. 2015, section 3 and 5.2; pycocoevalcap/cider/cider_scorer.py) --

CIDER_SIGMA = 6.0


def cider_d(items: Sequence[Item]) -> tuple[float, list[float]]:
    """Mean over items of CIDEr-D, and each item's.

    Per n (1..4): TF-IDF vectors of the n-grams, IDF = log(number of items / number of items
    whose references hold the n-gram) — so a lone item always scores 0; cosine similarity to each
    reference with the candidate's weights clipped at the reference's (the "-D" against gaming),
    times a Gaussian length penalty exp(-delta^2 / (2 sigma^2)), averaged over the references;
    then the mean over n, times 10. delta is the difference in word counts (COCO counts bigrams:
    the same difference whenever both captions have words; with an empty one the score is 0).
    """
    if not items:
        return 0.0, []
    candidate_counts = [_ngrams(candidate) for candidate, _ in items]
    reference_counts = [[_ngrams(ref) for ref in refs] for _, refs in items]
    document_frequency: Counter[NGram] = Counter()
    for refs in reference_counts:
        document_frequency.update({ngram for counts in refs for ngram in counts})
    log_items = math.log(len(items))

    def vector(counts: Counter[NGram]) -> tuple[list[dict[NGram, float]], list[float], int]:
        weights: list[dict[NGram, float]] = [{} for _ in range(MAX_N)]
        for ngram, tf in counts.items():
            idf = log_items - math.log(max(1.0, document_frequency[ngram]))
            weights[len(ngram) - 1][ngram] = tf * idf
        norms = [math.sqrt(sum(w * w for w in by_n.values())) for by_n in weights]
        words = sum(counts[ngram] for ngram in weights[0])
        return weights, norms, words

    scores: list[float] = []
    for counts, refs in zip(candidate_counts, reference_counts, strict=True):
        weights, norms, length = vector(counts)
        total = [0.0] * MAX_N
        for ref in refs:
            ref_weights, ref_norms, ref_length = vector(ref)
            penalty = math.exp(-((length - ref_length) ** 2) / (2 * CIDER_SIGMA**2))
            for n in range(MAX_N):
                similarity = sum(
                    min(w, ref_weights[n].get(ngram, 0.0)) * ref_weights[n].get(ngram, 0.0)
                    for ngram, w in weights[n].items()
                )
                if norms[n] and ref_norms[n]:
                    similarity /= norms[n] * ref_norms[n]
                total[n] += similarity * penalty
        scores.append(sum(total) / MAX_N / len(refs) * 10.0)
    return math.fsum(scores) / len(scores), scores
