"""The catalog's other families on the real engine: tiny Gemma 3 and InternVL3 fixtures,
and a SmolVLM with another tokenizer (tests/fixtures/models/README.md).

The main engine tests (test_runtime.py) run on SmolVLM and Qwen2.5-VL; these check that
every family the catalog offers loads, renders its chat template, sees its images, stops
at its end-of-turn token and answers in the schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import pytest

from models.catalog import load_catalog
from models.gguf_pair import PairError, check_pair
from models.prompts import AnswerLimits, builtin_prompts
from models.runtime import CaptionEngine, EngineConfig, Sampling
from tests.models.conftest import (
    CATALOG_FAMILY_FIXTURES,
    FIXTURES,
    FUZZ_ARCHITECTURES,
    TOKENIZER_VARIANTS,
    fixture_pair,
    jpeg_of,
)

SMALL = Sampling(temperature=0.0, limits=AnswerLimits(caption_chars=48, max_tags=3))
SHORT = builtin_prompts()["short"]
NEW_FAMILIES = ("gemma3", "internvl3", *TOKENIZER_VARIANTS)


def fixture_facts(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((FIXTURES / name / "fixture.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=NEW_FAMILIES)
def engine(request: pytest.FixtureRequest) -> Iterator[CaptionEngine]:
    model, mmproj = fixture_pair(request.param)
    config = EngineConfig(model, mmproj, model_id=request.param, n_ctx=4096, n_threads=1)
    with CaptionEngine(config) as e:
        yield e


def test_every_catalog_family_has_a_fixture_of_its_architecture() -> None:
    families = {entry.family for entry in load_catalog()}
    assert families <= set(CATALOG_FAMILY_FIXTURES), families - set(CATALOG_FAMILY_FIXTURES)
    for name in FUZZ_ARCHITECTURES:
        model, mmproj = fixture_pair(name)
        assert model.is_file() and mmproj.is_file(), name
        check_pair(model, mmproj)


def test_the_fixtures_are_the_families_llama_cpp_knows() -> None:
    expected = {"gemma3": ("gemma3", "gemma3"), "internvl3": ("qwen2", "internvl")}
    for name, (arch, projector) in expected.items():
        gguf = fixture_facts(name)["gguf"]
        assert gguf["model.gguf"]["metadata"]["general.architecture"] == arch
        assert gguf["mmproj.gguf"]["metadata"]["clip.projector_type"] == projector
        assert gguf["mmproj.gguf"]["n_tensors"] > 0


def test_the_tokenizer_variant_has_pieces_that_run_past_a_json_end() -> None:
    for name in TOKENIZER_VARIANTS:
        facts = fixture_facts(name)
        base = fixture_facts(facts["family"])
        assert facts["tokenizer"]["vocab_size"] != base["tokenizer"]["vocab_size"]
        pieces = facts["tokenizer"]["json_end_pieces"]
        assert {'"}', '"]}', '"},'} <= set(pieces)
        assert any("\n" in piece and ("}" in piece) for piece in pieces), pieces


@pytest.mark.parametrize(
    ("model_of", "mmproj_of"), [("gemma3", "internvl3"), ("internvl3", "gemma3")]
)
def test_a_projector_of_another_family_is_refused(model_of: str, mmproj_of: str) -> None:
    with pytest.raises(PairError):
        check_pair(fixture_pair(model_of)[0], fixture_pair(mmproj_of)[1])


def test_photo_caption_is_structured_bounded_and_repeatable(engine: CaptionEngine) -> None:
    first = engine.caption([jpeg_of()], SHORT, sampling=SMALL)
    answer = first.answer
    assert answer.complete and 1 <= len(answer.caption) <= 48
    assert len(answer.tags) <= 3 and all(0 < len(t) <= 32 for t in answer.tags)
    assert first.completion_tokens > 0 and first.prompt_tokens > 0
    assert engine.caption([jpeg_of()], SHORT, sampling=SMALL).answer == answer
    other = engine.caption([jpeg_of("coffee")], SHORT, sampling=SMALL).answer
    assert other != answer  # the image reaches the model


def test_video_keyframes_give_one_moment_each(engine: CaptionEngine) -> None:
    frames = [jpeg_of(p, side=96) for p in ("astronaut", "coffee")]
    chosen = engine.frames_that_fit(frames, [0.0, 2.5], SHORT)
    assert chosen == [0, 1]
    result = engine.caption(frames, SHORT, timestamps=[0.0, 2.5], sampling=SMALL)
    assert result.answer.complete and len(result.answer.moments) == 2


def test_the_prompt_starts_with_one_bos_and_the_turn_end_stops(
    engine: CaptionEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gemma 3's template writes the BOS itself and its tokenizer adds one too: the
    handler renders bos_token as the (empty) text of a control token, so the model sees
    exactly one. Every family's end-of-turn token ends generation."""
    llm = engine._llm
    evaluated: list[list[int]] = []
    original = llama_cpp.Llama.eval

    def spy(self: llama_cpp.Llama, tokens: list[int]) -> None:
        evaluated.append(list(tokens))
        original(self, tokens)

    monkeypatch.setattr(llama_cpp.Llama, "eval", spy)
    engine.caption([jpeg_of(side=64)], SHORT, sampling=SMALL)
    prompt_start = evaluated[0]
    bos = llm.token_bos()
    assert prompt_start.count(bos) <= 1
    facts = fixture_facts(str(engine.config.model_id))
    if facts["tokenizer"]["bos"]:
        assert prompt_start[0] == bos
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    for piece in ("<end_of_turn>", "<|im_end|>", "<end_of_utterance>"):
        token = facts["tokenizer"]["added_token_ids"].get(piece)
        if token is not None:
            assert llama_cpp.llama_vocab_is_eog(vocab, token), piece


def test_fixture_dirs_are_complete() -> None:
    for name in NEW_FAMILIES:
        facts = fixture_facts(name)
        for relative, info in facts["files"].items():
            assert (FIXTURES / name / Path(relative)).stat().st_size == info["bytes"], relative
