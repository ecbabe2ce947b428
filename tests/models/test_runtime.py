"""Real llama.cpp inference on tiny random-weight VLMs of two architectures.

The models' words are nonsense; what is real is everything around them: loading,
images in the prompt, the JSON schema, cancelling, and every failure path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.prompts import AnswerLimits, answer_schema, builtin_prompts, string_budgets
from models.runtime import Cancelled, CaptionEngine, EngineConfig, EngineError, Sampling
from tests.models.conftest import fixture_pair, jpeg_of

SMALL = Sampling(temperature=0.0, limits=AnswerLimits(caption_chars=48, max_tags=3))
SHORT = builtin_prompts()["short"]


@pytest.fixture
def engine(architecture: str):  # type: ignore[no-untyped-def]
    model, mmproj = fixture_pair(architecture)
    with CaptionEngine(EngineConfig(model, mmproj, model_id=architecture, n_ctx=4096)) as e:
        yield e


def test_photo_caption_is_structured_and_bounded(engine: CaptionEngine) -> None:
    result = engine.caption([jpeg_of()], SHORT, sampling=SMALL)
    answer = result.answer
    assert answer.complete
    assert 1 <= len(answer.caption) <= 48
    assert len(answer.tags) <= 3 and all(0 < len(t) <= 32 for t in answer.tags)
    assert result.completion_tokens > 0 and result.prompt_tokens > 0
    assert engine.n_gpu_layers == 0  # this CPU build offloads nothing


def test_greedy_caption_is_repeatable(engine: CaptionEngine) -> None:
    first = engine.caption([jpeg_of()], SHORT, sampling=SMALL).answer
    second = engine.caption([jpeg_of()], SHORT, sampling=SMALL).answer
    other = engine.caption([jpeg_of("coffee")], SHORT, sampling=SMALL).answer
    assert first == second  # the model stays loaded and is reset between captions
    assert other.caption != first.caption or other.tags != first.tags  # the image matters


def test_video_keyframes_in_one_prompt_give_one_moment_each(engine: CaptionEngine) -> None:
    frames = [jpeg_of(p) for p in ("astronaut", "coffee", "chelsea")]
    result = engine.caption(frames, SHORT, timestamps=[0.0, 2.5, 7.0], sampling=SMALL)
    assert result.answer.complete and len(result.answer.moments) == 3
    # Every frame is seen: changing only the later frames changes the answer.
    same_start = [frames[0]] * 3
    other = engine.caption(same_start, SHORT, timestamps=[0.0, 2.5, 7.0], sampling=SMALL)
    assert other.answer != result.answer


def test_cancel_stops_generation(engine: CaptionEngine) -> None:
    calls = []

    def stop_after_three_tokens() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        engine.caption([jpeg_of()], SHORT, sampling=SMALL, should_stop=stop_after_three_tokens)
    assert engine.caption([jpeg_of()], SHORT, sampling=SMALL).answer.caption  # still usable


def test_images_beyond_the_context_are_a_clear_error(architecture: str) -> None:
    model, mmproj = fixture_pair(architecture)
    with (
        CaptionEngine(EngineConfig(model, mmproj, n_ctx=256)) as engine,
        pytest.raises(EngineError, match="do not fit"),
    ):
        engine.caption([jpeg_of()] * 12, SHORT, timestamps=[float(i) for i in range(12)])


def test_image_token_budget_is_applied() -> None:
    model, mmproj = fixture_pair("qwen2_5_vl")  # dynamic resolution: tokens follow size
    big = jpeg_of(side=512)
    with CaptionEngine(EngineConfig(model, mmproj)) as free:
        unbounded = free.caption([big], SHORT, sampling=SMALL).prompt_tokens
    with CaptionEngine(EngineConfig(model, mmproj, image_max_tokens=16)) as capped:
        bounded = capped.caption([big], SHORT, sampling=SMALL).prompt_tokens
    assert bounded < unbounded


@pytest.mark.parametrize(
    ("model_of", "mmproj_of", "message"),
    [
        ("smolvlm", "qwen2_5_vl", "made for a different model"),
        ("qwen2_5_vl", "smolvlm", "made for a different model"),
    ],
)
def test_mismatched_projector_is_refused(model_of: str, mmproj_of: str, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        CaptionEngine(EngineConfig(fixture_pair(model_of)[0], fixture_pair(mmproj_of)[1]))


def test_broken_model_files_are_refused(tmp_path: Path) -> None:
    model, mmproj = fixture_pair("smolvlm")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(model.read_bytes()[:200_000])
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    shutil.copy(mmproj, tmp_path / "mmproj.gguf")
    cases = [
        (tmp_path / "absent.gguf", mmproj, "missing"),
        (text, mmproj, "not a GGUF model"),
        (truncated, mmproj, "not a readable GGUF|could not load"),
        (model, model, "not a vision projector"),
        (mmproj, mmproj, "is a vision projector, not a language model"),
    ]
    for model_path, mmproj_path, message in cases:
        with pytest.raises(EngineError, match=message):
            CaptionEngine(EngineConfig(model_path, mmproj_path))


def test_token_budget_always_covers_the_string_budgets() -> None:
    """Even at one token per character the answer can close within max_tokens."""
    for limits in (AnswerLimits(), AnswerLimits(16, 1), AnswerLimits(2000, 20)):
        budgets = string_budgets(limits)
        for moments in (0, 1, 8):
            worst = (
                budgets["caption"]
                + limits.max_tags * (budgets["tags"] + 3)
                + budgets["language"]
                + moments * (budgets["moments"] + 3)
                + 40
            )
            assert limits.max_tokens(moments) >= worst


def test_schema_strings_carry_no_max_length() -> None:
    """maxLength makes llama.cpp's grammar crawl (and crash when long): the budgets
    are enforced by the logits processor instead."""
    import json

    assert "maxLength" not in json.dumps(answer_schema(AnswerLimits(), moments=8))


def test_safe_mode_captions_greedily_without_the_logits_processor(engine: CaptionEngine) -> None:
    safe = SMALL.safe()
    assert safe.temperature == 0.0 and not safe.string_budget and safe.limits == SMALL.limits
    result = engine.caption([jpeg_of()], SHORT, sampling=safe)
    assert result.answer.caption and result.completion_tokens > 0
