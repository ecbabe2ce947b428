"""Caption metrics (models/finetune/metrics.py) against the COCO evaluation code and textbooks.

Reference values: tests/fixtures/caption_metrics/coco_reference.json, written by
tests/fixtures/caption_metrics/make_coco_reference.py (its docstring says how to run it) with
pycocoevalcap 1.2 in a throwaway venv: every caption tokenized by COCO's Java PTBTokenizer, the
tokens fed to Bleu(4), Rouge() and Cider(), corpus and per-image scores recorded with full
precision. Five sets: twelve varied items (perfect match, no overlap, a two-word candidate,
Papineni's "the the the…", a repeated phrase, longer/shorter than the references, contractions,
hyphens and numbers, a tie for the closest reference length), a pair, a lone item, a set with no
overlap at all, and four held-out corrections with one reference each.

Textbook values: NLTK's documented BLEU of Papineni et al.'s example, sacrebleu's README example,
and Lin 2004's ROUGE-L example.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from models.finetune.metrics import (
    bleu4,
    caption_scores,
    cider_d,
    per_caption_scores,
    rouge_l,
    tokenize,
)

REFERENCE = json.loads(
    (
        Path(__file__).resolve().parents[1] / "fixtures" / "caption_metrics" / "coco_reference.json"
    ).read_text(encoding="utf-8")
)
SETS: dict[str, dict[str, Any]] = REFERENCE["sets"]
# Our sums run in another order than numpy's; 4e-16 is the largest difference seen.
TOLERANCE = 1e-12


def _words(text: str) -> list[str]:
    return text.split()


def _inputs(name: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    items = SETS[name]["items"]
    return (
        {key: item["references"] for key, item in items.items()},
        {key: item["candidate"] for key, item in items.items()},
    )


@pytest.mark.parametrize("name", sorted(SETS))
def test_corpus_scores_match_pycocoevalcap(name: str) -> None:
    got = caption_scores(*_inputs(name))
    assert got.keys() == {"bleu4", "rouge_l", "cider"}
    for metric, expected in SETS[name]["scores"].items():
        assert got[metric] == pytest.approx(expected, abs=TOLERANCE, rel=0), metric


@pytest.mark.parametrize("name", sorted(SETS))
def test_per_caption_scores_match_pycocoevalcap(name: str) -> None:
    got = per_caption_scores(*_inputs(name))
    expected = SETS[name]["per_item"]
    assert list(got) == list(expected)
    for key, scores in expected.items():
        for metric, value in scores.items():
            assert got[key][metric] == pytest.approx(value, abs=TOLERANCE, rel=0), (key, metric)


def test_the_reference_sets_cover_what_they_claim() -> None:
    """Guards the fixture itself: the edge cases are really in it."""
    varied = SETS["varied"]["per_item"]
    assert varied["perfect-match"]["rouge_l"] == pytest.approx(1.0)
    assert varied["no-overlap"] == {"bleu4": pytest.approx(0, abs=1e-6), "rouge_l": 0, "cider": 0}
    assert SETS["single"]["scores"]["cider"] == 0.0
    assert SETS["no-overlap"]["scores"]["rouge_l"] == 0.0
    assert all(len(item["references"]) == 1 for item in SETS["one-reference"]["items"].values())


def test_tokenizer_matches_cocos_ptb_tokenizer() -> None:
    sentences: dict[str, str] = dict(REFERENCE["tokenizer"])
    for items in SETS.values():
        for item in items["items"].values():
            sentences[item["candidate"]] = item["candidate_tokens"]
            sentences.update(zip(item["references"], item["reference_tokens"], strict=True))
    mismatches = {
        s: (tokenize(s), ptb) for s, ptb in sentences.items() if tokenize(s) != ptb.split()
    }
    assert not mismatches
    assert len(sentences) > 50


def test_tokenizer_details() -> None:
    assert tokenize("A man’s dog isn’t here!") == ["a", "man", "'s", "dog", "is", "n't", "here"]
    # Brackets are dropped (COCO keeps a stray "-lrb-": it lower-cases, then drops "-LRB-").
    assert tokenize("A bird (in a tree)") == ["a", "bird", "in", "a", "tree"]
    assert tokenize("") == [] and tokenize(" ... !? ") == []


def test_papineni_example_as_documented_by_nltk() -> None:
    """Papineni et al. 2002's candidate 1; NLTK documents sentence_bleu = 0.5045666840058485 and,
    with a second sentence, corpus_bleu = 0.5920778868801042 (nltk.translate.bleu_score)."""
    candidate = _words(
        "It is a guide to action which ensures that the military always obeys "
        "the commands of the party"
    )
    refs = [
        _words(
            "It is a guide to action that ensures that the military will forever heed "
            "Party commands"
        ),
        _words(
            "It is the guiding principle which guarantees the military forces always being "
            "under the command of the Party"
        ),
        _words("It is the practical guide for the army always to heed the directions of the party"),
    ]
    assert bleu4([(candidate, refs)])[0] == pytest.approx(0.5045666840058485, abs=1e-9)
    second = (
        _words("he read the book because he was interested in world history"),
        [_words("he was interested in world history because he read the book")],
    )
    assert bleu4([(candidate, refs), second])[0] == pytest.approx(0.5920778868801042, abs=1e-9)


def test_sacrebleu_readme_example() -> None:
    """sacrebleu's README: BLEU = 48.53 (hyp_len 17, ref_len 18). Tokens as its 13a tokenizer
    splits them (case kept, final dots separate, "wasn't" whole)."""
    candidates = [
        "The dog bit the man .",
        "It wasn't surprising .",
        "The man had just bitten him .",
    ]
    refs = [
        ["The dog bit the man .", "The dog had bit the man ."],
        ["It was not unexpected .", "No one was surprised ."],
        ["The man bit him first .", "The man had bitten the dog ."],
    ]
    items = [(c.split(), [r.split() for r in rs]) for c, rs in zip(candidates, refs, strict=True)]
    assert bleu4(items)[0] * 100 == pytest.approx(48.530827009929865, abs=1e-6)


def test_brevity_penalty_uses_the_closest_reference_length() -> None:
    refs = [_words("a b c d e f g h"), _words("a b c d")]
    # Candidate of 4 matching words: closest reference has 4 words -> no penalty, a perfect score.
    assert bleu4([(_words("a b c d"), refs)])[0] == pytest.approx(1.0, abs=1e-9)
    # Against the 8-word reference alone it is penalised by exp(1 - 8/4).
    assert bleu4([(_words("a b c d"), refs[:1])])[0] == pytest.approx(math.exp(-1), abs=1e-9)


def test_rouge_l_textbook_example() -> None:
    """Lin 2004, section 3.1.1: against "police killed the gunman", S2 "police kill the gunman"
    scores 3/4 and S3 "the gunman kill police" 2/4 (P = R, so F is the same for any beta)."""
    reference = [_words("police killed the gunman")]
    _, scores = rouge_l([(_words("police kill the gunman"), reference),
                         (_words("the gunman kill police"), reference)])  # fmt: skip
    assert scores == pytest.approx([0.75, 0.5])


def test_rouge_l_weights_recall_with_beta_1_2() -> None:
    # P = 1, R = 1/2: F = 2.44 * 0.5 / (0.5 + 1.44) = 0.6289 (beta 1 would give 0.6667).
    _, [score] = rouge_l([(_words("a b"), [_words("a x b y")])])
    assert score == pytest.approx(2.44 * 0.5 / (0.5 + 1.44))


def test_cider_d_by_hand() -> None:
    """Two images whose captions share no n-gram: each n-gram's IDF is log 2 in both vectors, so
    every cosine is 1 and there is no length penalty: CIDEr-D = 10 x (mean over n = 1..4 of 1 for
    the n-grams a caption has, 0 for the n it has none of)."""
    four_words = (_words("red car on road"), [_words("red car on road")])
    two_words = (_words("blue boat"), [_words("blue boat")])
    mean, scores = cider_d([four_words, two_words])
    assert scores == pytest.approx([10.0, 5.0])
    assert mean == pytest.approx(7.5)


def test_cider_d_clips_repeated_ngrams_and_penalises_length() -> None:
    other = (_words("a cat"), [_words("a cat")])
    reference = [_words("dog runs fast")]
    exact = cider_d([(_words("dog runs fast"), reference), other])[1][0]
    repeated = cider_d([(_words("dog runs fast dog runs fast"), reference), other])[1][0]
    assert exact == pytest.approx(10 * 3 / 4)  # 1-, 2-, 3-grams match; no 4-gram
    assert 0 < repeated < exact


def test_a_better_caption_scores_higher_on_every_metric() -> None:
    references = {
        "1": ["Our golden retriever asleep on the green sofa."],
        "2": ["Grandma's house in Lyon with the whole family."],
    }
    before = caption_scores(references, {"1": "A dog on a couch.", "2": "People near a building."})
    after = caption_scores(
        references, {"1": "Our golden retriever asleep on the sofa.", "2": "The family in Lyon."}
    )
    assert all(after[metric] > before[metric] for metric in before)


def test_empty_input_scores_zero() -> None:
    assert caption_scores({}, {}) == {"bleu4": 0.0, "rouge_l": 0.0, "cider": 0.0}
    assert per_caption_scores({"x": ["a cat"]}, {}) == {}


def test_an_empty_candidate_scores_zero_without_error() -> None:
    references = {"1": ["a cat on a mat"], "2": ["a dog"]}
    assert per_caption_scores(references, {"1": "...", "2": "a dog"})["1"] == {
        "bleu4": 0.0,
        "rouge_l": 0.0,
        "cider": 0.0,
    }


def test_a_candidate_without_references_is_refused() -> None:
    with pytest.raises(ValueError, match="'b'"):
        caption_scores({"a": ["x"]}, {"a": "x", "b": "y"})
    with pytest.raises(ValueError, match="'a'"):
        caption_scores({"a": []}, {"a": "x"})
    with pytest.raises(TypeError, match="list of captions"):
        caption_scores({"a": "a cat"}, {"a": "a cat"})


def test_references_without_a_candidate_do_not_change_the_scores() -> None:
    references, candidates = _inputs("pair")
    extra = {**references, "unused": ["a completely different caption about boats"]}
    assert caption_scores(extra, candidates) == caption_scores(references, candidates)


def test_importing_the_metrics_pulls_in_no_numeric_package() -> None:
    """The GUI and the caption worker import this module; it must stay pure Python."""
    code = (
        "import sys, models.finetune.metrics; "
        "print(sorted(m for m in ('numpy', 'torch', 'PySide6') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
