"""The answer grammar keeps JSON strings JSON: no raw control characters, and every
non-empty string (caption, tags, moments) starts with a visible character.

llama-cpp-python's schema-to-grammar port lets any character but `"` and `\\` into a
string. The fuzz found random models (with vocabularies respelled at fuzz time) whose
caption was nothing but byte-fallback control characters or blanks: valid for that
grammar, empty once cleaned ("the model returned an empty caption"). A "hostile" model,
one that prefers exactly those tokens, reproduces it deterministically.
"""

from __future__ import annotations

import contextlib
import json
import unicodedata
from collections.abc import Iterator

import numpy as np
import pytest

import models.runtime as runtime
from models.answer import AnswerError
from models.prompts import AnswerLimits, answer_schema, builtin_prompts
from models.runtime import CaptionEngine, EngineConfig, Sampling, answer_grammar
from models.string_budget import JsonStringBudget
from tests.models.conftest import fixture_pair, jpeg_of

LIMITS = AnswerLimits(caption_chars=16, max_tags=2)
SHORT = builtin_prompts()["short"]


@pytest.fixture(scope="module")
def engine() -> Iterator[CaptionEngine]:
    model, mmproj = fixture_pair("smolvlm")
    with CaptionEngine(EngineConfig(model, mmproj, n_ctx=4096, n_threads=1)) as e:
        yield e


@pytest.fixture
def hostile(engine: CaptionEngine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token whose text is one control character or a blank gets +1000 after the
    engine's own processor: the model wants nothing else. Returns the raw answers."""
    pieces = [engine._piece(t) for t in range(engine._llm.n_vocab())]
    bad = np.array(
        [t for t, p in enumerate(pieces) if len(p) == 1 and (ord(p) < 0x20 or p.isspace())]
    )
    assert len(bad) > 20  # byte-fallback controls, "\n", " "
    raw: list[str] = []

    class Hostile(JsonStringBudget):
        def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
            out = super().__call__(input_ids, scores)
            out[bad] += np.float32(1000)
            return out

    original = runtime.parse_answer

    def keep(text: str, **kwargs: int):  # type: ignore[no-untyped-def]
        raw.append(text)
        return original(text, **kwargs)

    monkeypatch.setattr(runtime, "JsonStringBudget", Hostile)
    monkeypatch.setattr(runtime, "parse_answer", keep)
    return raw


def _controls(text: str) -> list[str]:
    return [ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in " "]


def test_a_model_that_wants_blanks_and_controls_still_gives_a_caption(
    engine: CaptionEngine, hostile: list[str]
) -> None:
    for temperature in (0.0, 1.0):
        sampling = Sampling(temperature=temperature, limits=LIMITS)
        answer = engine.caption([jpeg_of()], SHORT, sampling=sampling).answer
        assert answer.caption and answer.caption[0].isprintable()
        frames = [jpeg_of(), jpeg_of("coffee")]
        video = engine.caption(frames, SHORT, timestamps=[0.0, 1.0], sampling=sampling).answer
        assert video.caption and all(m for m in video.moments)
    assert hostile and not any(_controls(r.rstrip()) for r in hostile), hostile
    for raw in hostile:
        json.loads(raw)  # strict JSON


def test_with_the_stock_grammar_the_same_model_writes_raw_control_characters(
    engine: CaptionEngine, hostile: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why answer_grammar exists. If this starts failing, llama-cpp-python's grammar got
    strict and answer_grammar could go back to `response_format`."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    def stock(limits: AnswerLimits, moments: int = 0) -> str:
        return json_schema_to_gbnf(json.dumps(answer_schema(limits, moments)))

    monkeypatch.setattr(runtime, "answer_grammar", stock)
    with contextlib.suppress(AnswerError):
        engine.caption([jpeg_of()], SHORT, sampling=Sampling(temperature=0.0, limits=LIMITS))
    assert _controls(hostile[-1])
    with pytest.raises(json.JSONDecodeError, match="control character"):
        json.loads(hostile[-1])  # not JSON: RFC 8259 wants them escaped


def test_the_grammar_is_the_schema_with_strict_strings() -> None:
    gbnf = answer_grammar(LIMITS, moments=2)
    rules = dict(line.split(" ::= ", 1) for line in gbnf.splitlines() if line)
    assert rules["char"].startswith(r'[^"\\\x7F\x00-\x1F')
    for name in ("caption", "tags-item", "moments-item"):
        assert rules[name] == r'"\"" visible-char char* "\"" space', name
    assert rules["string"] == r'"\"" char* "\"" space'  # the language may be empty
    # what llama.cpp's lenient UTF-8 decoder lets through but the text then loses
    for name in ("char", "visible-char"):
        assert r"\uD800-\uDFFF\U00110000-" in rules[name], name
    assert "moments-kv" in rules["root"] and "tags-kv" in rules["root"]
