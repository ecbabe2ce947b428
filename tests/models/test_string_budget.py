"""The string-budget logits processor never leaves the grammar without a token.

llama-cpp-python runs it before the grammar sampler. A processor that set tokens to
-inf could leave every token the grammar allows at -inf; the sampler then picks a
token the grammar rejects and llama.cpp aborts the process. So it only demotes.
"""

from __future__ import annotations

import numpy as np

from models.string_budget import JsonStringBudget, VocabularyShape

PIECES = ["", "</s>", '"', '",', "a", "ab", "abcd", "\ufffd", "{", "}", ":", " ", "\\"]
EOS = 1


def _budget(chars: int) -> JsonStringBudget:
    """Every value string (the keys here are made of "a"s) may have `chars` characters."""
    piece = PIECES.__getitem__
    shape = VocabularyShape(piece, len(PIECES), ends_generation=lambda t: t == EOS)
    return JsonStringBudget(piece, shape, budget_for={}, default_budget=chars)


def _ids(*pieces: str) -> np.ndarray:
    return np.array([0, 0] + [PIECES.index(p) for p in pieces], dtype=np.intc)


def _grammar_pick(scores: np.ndarray, allowed: list[int]) -> int:
    """What llama.cpp's chain does next: the grammar sets what it rejects to -inf,
    greedy takes the best of the rest."""
    masked = np.full_like(scores, -np.inf)
    masked[allowed] = scores[allowed]
    return int(np.argmax(masked))


def test_at_the_budget_long_tokens_are_demoted_never_forbidden() -> None:
    budget = _budget(chars=2)
    scores = np.zeros(len(PIECES), dtype=np.float32)
    budget(_ids(), scores)  # learns the prompt's length
    out = budget(_ids("{", '"', "a", "a", "a", '"', ":", '"', "a"), scores)
    assert np.isfinite(out).all()
    assert out[PIECES.index("abcd")] < out[PIECES.index('"')]  # closing is preferred


def test_the_grammar_keeps_a_token_when_no_closing_quote_fits_it() -> None:
    # The caption is at its budget in the middle of a UTF-8 sequence: the grammar only
    # takes a continuation byte, and the budget would only take a closing quote.
    budget = _budget(chars=2)
    scores = np.random.default_rng(0).normal(size=len(PIECES)).astype(np.float32)
    budget(_ids(), scores)
    ids = _ids("{", '"', "a", '"', ":", '"', "a", "\ufffd")
    out = budget(ids, scores)
    continuation = PIECES.index("\ufffd")
    assert _grammar_pick(out, [continuation]) == continuation


def test_after_the_json_only_end_of_generation_is_left_to_the_grammar() -> None:
    budget = _budget(chars=2)
    scores = np.zeros(len(PIECES), dtype=np.float32)
    budget(_ids(), scores)
    out = budget(_ids("{", '"', "a", '"', ":", '"', "a", '"', "}"), scores)
    assert np.isfinite(out[EOS]) and _grammar_pick(out, [EOS]) == EOS


def test_silent_tokens_are_demoted_not_removed() -> None:
    budget = _budget(chars=2)
    scores = np.zeros(len(PIECES), dtype=np.float32)
    budget(_ids(), scores)
    out = budget(_ids("{"), scores)
    assert np.isfinite(out).all() and out[0] < out[PIECES.index("a")]
