"""Bounding the strings of a JSON answer without slowing the grammar down.

llama.cpp turns a JSON-schema `maxLength: N` into N nested grammar rules: at
N=256 sampling drops to ~10 tokens/s and around N=1000 it crashes. So the schema
keeps its strings unbounded and this logits processor bounds them instead: it
follows the answer as a tiny JSON lexer and, once the current string has reached
its budget, allows only tokens that close it. The cost is flat per token.

It never forbids a token outright, it only pushes logits down (to DEMOTED, a very
low but finite logit). llama-cpp-python runs logits processors before the grammar
sampler, so the processor cannot see which tokens the grammar allows; had it set
every grammar-allowed token to -inf (a string at its budget in the middle of a
UTF-8 sequence or a `\\u` escape, where no closing quote fits the grammar), the
sampler would pick among tokens that are all -inf, llama.cpp would accept a token
the grammar rejects, and the process would abort ("Unexpected empty grammar stack
after accepting piece", an uncatchable C++ exception). With finite demotion the
grammar's allowed tokens always keep a finite logit, so the sampled token is always
one the grammar allows, and once the JSON is complete that is only end-of-generation:
at worst a string runs a token or two past its budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

# Far below any real logit, yet finite: a repeat penalty multiplies it, a low
# temperature divides it, and it stays finite in float32 (max ~3.4e38).
DEMOTED = np.float32(-1e30)


class JsonStringBudget:
    """A llama-cpp-python logits processor: (input_ids, scores) -> scores.

    It also carries the cancel check: the streaming API, which would allow stopping
    between tokens, re-detokenizes the whole answer at every token (quadratic time).
    """

    def __init__(
        self,
        piece_of: Callable[[int], str],
        vocabulary: VocabularyShape,
        *,
        budget_for: Mapping[str, int],
        default_budget: int,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self._piece_of = piece_of
        self._vocabulary = vocabulary
        self._budget_for = budget_for
        self._default = default_budget
        self._seen: int | None = None  # the prompt's length, learnt on the first call
        # Called before every token, so it is also where generation can be stopped.
        # llama-cpp-python calls processors from a C callback, which swallows
        # exceptions; so stopping means winding down: every string gets a one-letter
        # budget and the grammar closes the JSON within a few dozen tokens.
        self._should_stop = should_stop
        self.stopped = False
        self._stack: list[str] = []
        self._expect_key = False
        self._in_string = False
        self._escaped = False
        self._string_is_key = False
        self._key = ""
        self._last_key = ""
        self._length = 0

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if not self.stopped and self._should_stop():
            self.stopped = True
        if self._seen is None:
            self._seen = len(input_ids)  # called before the first answer token
        for token in input_ids[self._seen :]:
            for ch in self._piece_of(int(token)):
                self._feed(ch)
        self._seen = len(input_ids)
        scores = scores.copy()
        # Tokens without text (special tokens) satisfy the grammar without moving it
        # on, so a model could spend its whole budget on them; only "end" may be empty.
        scores[self._vocabulary.silent] = np.minimum(scores[self._vocabulary.silent], DEMOTED)
        if self._in_string and not self._string_is_key:
            room = self._budget() - self._length
            if room < self._vocabulary.longest:  # only then can a token overshoot
                too_long = self._vocabulary.lengths > room
                too_long[self._vocabulary.closing] = False  # ending the string always fits
                scores[too_long] = np.minimum(scores[too_long], DEMOTED)
        return scores

    def _budget(self) -> int:
        if self.stopped:
            return 1  # strings may need one character (minLength): then close
        return self._budget_for.get(self._last_key, self._default)

    def _feed(self, ch: str) -> None:
        if self._in_string:
            self._feed_string(ch)
        elif ch == '"':
            self._in_string, self._length, self._key = True, 0, ""
            self._string_is_key = bool(self._stack) and self._stack[-1] == "{" and self._expect_key
        elif ch in "{[":
            self._stack.append(ch)
            self._expect_key = ch == "{"
        elif ch in "}]":
            if self._stack:
                self._stack.pop()
        elif ch == ":":
            self._expect_key = False
        elif ch == ",":
            self._expect_key = bool(self._stack) and self._stack[-1] == "{"

    def _feed_string(self, ch: str) -> None:
        if self._escaped:
            self._escaped = False
        elif ch == "\\":
            self._escaped = True
            return
        elif ch == '"':
            self._in_string = False
            if self._string_is_key:
                self._last_key = self._key
            return
        self._length += 1
        if self._string_is_key:
            self._key += ch


class VocabularyShape:
    """What the budget needs to know of every token: its length in characters,
    whether it can end a string (its text begins with a double quote), and which
    tokens have no text but do not end generation either."""

    def __init__(
        self, piece_of: Callable[[int], str], n_vocab: int, ends_generation: Callable[[int], bool]
    ) -> None:
        pieces = [piece_of(t) for t in range(n_vocab)]
        self.lengths = np.array([len(p) for p in pieces], dtype=np.int32)
        self.closing = np.array(
            [t for t, p in enumerate(pieces) if p.startswith('"')], dtype=np.int64
        )
        self.silent = np.array(
            [t for t, p in enumerate(pieces) if not p and not ends_generation(t)], dtype=np.int64
        )
        self.longest = int(self.lengths.max()) if n_vocab else 0
