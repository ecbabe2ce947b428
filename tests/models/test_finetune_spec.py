"""SPEC.json in and out, its field-level errors, the answer shape and the engine's prompt text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.answer import parse_answer
from models.finetune import chat
from models.finetune.spec import SpecError, Target, TrainingSpec
from models.prompts import AnswerLimits, answer_schema
from tests.models.conftest import FIXTURES
from tests.models.finetune_data import spec_dict


def test_a_spec_survives_json_round_trip(tmp_path: Path) -> None:
    raw = spec_dict(tmp_path)
    spec = TrainingSpec.from_json(json.dumps(raw))
    again = TrainingSpec.from_json(spec.to_json())
    assert again == spec
    assert spec.examples[0].images[0] == Path(raw["examples"][0]["images"][0])
    assert spec.heldout[0].id == "held-astronaut"
    assert spec.lora.rank == 32 and spec.train.epochs == 60
    assert spec.partial_dir == spec.output_dir.with_name("adapter-1.partial")


def test_missing_settings_take_the_seed_articles_defaults(tmp_path: Path) -> None:
    raw = spec_dict(tmp_path)
    for key in ("lora", "train", "method", "heldout", "evaluate", "family"):
        del raw[key]
    spec = TrainingSpec.from_dict(raw)
    assert (spec.lora.rank, spec.lora.alpha, spec.lora.dropout) == (64, 128.0, 0.05)
    assert spec.lora.target_modules == ("q_proj", "v_proj")
    assert spec.method == "auto" and spec.heldout == () and spec.evaluate
    assert spec.train.gradient_checkpointing is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("model_id"), r"spec\.model_id is missing"),
        (lambda s: s.update(method="fast"), r"spec\.method must be one of auto, lora, qlora"),
        (lambda s: s["lora"].update(rank=0), r"spec\.lora\.rank must be at least 1"),
        (lambda s: s["lora"].update(target_modules=[]), r"target_modules"),
        (lambda s: s["train"].update(epochs="3"), r"spec\.train\.epochs must be a whole number"),
        (lambda s: s["examples"][1].update(images=[]), r"examples\[1\]\.images must list"),
        (
            lambda s: s["examples"][0].update(timestamps=[0.0, 1.0]),
            r"examples\[0\]\.timestamps has 2 values for 1 images",
        ),
        (lambda s: s["heldout"][0]["target"].pop("caption"), r"heldout\[0\]\.target\.caption"),
        (lambda s: s.update(version=2), r"spec version 2 is not supported"),
        (lambda s: s.update(examples={}), r"spec\.examples must be a list"),
    ],
)
def test_a_bad_field_is_named_in_the_error(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    raw = spec_dict(tmp_path)
    change(raw)
    with pytest.raises(SpecError, match=message):
        TrainingSpec.from_dict(raw)


def test_unreadable_specs_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not valid JSON"):
        TrainingSpec.from_json("{nope")
    with pytest.raises(SpecError, match="cannot read the spec"):
        TrainingSpec.load(tmp_path / "missing.json")


def test_the_target_is_the_engines_json_answer() -> None:
    photo = Target("A dog on a beach.", ("dog", "beach"), "English")
    text = photo.answer_json()
    schema = answer_schema(AnswerLimits())
    assert list(json.loads(text)) == list(schema["properties"])  # the grammar's key order
    assert parse_answer(text) == parse_answer(
        '{"caption": "A dog on a beach.", "tags": ["dog", "beach"], "language": "English"}'
    )
    video = Target("A dog runs.", ("dog",), "Deutsch", ("Start.", "Stopp."))
    answer = parse_answer(video.answer_json(), moments=2)
    assert list(json.loads(video.answer_json())) == list(
        answer_schema(AnswerLimits(), 2)["properties"]
    )
    assert answer.moments == ["Start.", "Stopp."] and answer.language == "Deutsch"
    assert json.loads(Target("Café «été»").answer_json())["caption"] == "Café «été»"


def test_the_prompt_is_rendered_as_llama_cpp_renders_it(tmp_path: Path) -> None:
    spec = TrainingSpec.from_dict(spec_dict(tmp_path))
    template = chat.gguf_chat_template(FIXTURES / "smolvlm" / "model.gguf")
    text = chat.render(template, chat.engine_messages(spec.examples[0]), bos_token="", eos_token="")
    # The image part became a text part holding the media marker, so SmolVLM's template
    # writes "User: " with a space, exactly as llama-cpp-python's handler sends it.
    assert text.startswith("<|im_start|>User: <__media__>Write one short sentence in English")
    assert text.endswith("Answer in JSON.<end_of_utterance>\nAssistant:")
    assert chat.turn_suffix(template, bos_token="", eos_token="") == "<end_of_utterance>"
    qwen = chat.gguf_chat_template(FIXTURES / "qwen2_5_vl" / "model.gguf")
    text = chat.render(qwen, chat.engine_messages(spec.examples[0]), bos_token="", eos_token="")
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
    assert "<|im_start|>user\n<__media__>Write one" in text
    assert chat.turn_suffix(qwen, bos_token="", eos_token="<|im_end|>") == "<|im_end|>"


def test_a_video_prompt_interleaves_timestamps_and_frames(tmp_path: Path) -> None:
    raw = spec_dict(tmp_path)
    first = raw["examples"][0]
    first["images"] = first["images"] + raw["examples"][1]["images"]
    first["timestamps"] = [0.0, 2.5]
    first["target"]["moments"] = ["An astronaut.", "Coffee."]
    spec = TrainingSpec.from_dict(raw)
    template = chat.gguf_chat_template(FIXTURES / "smolvlm" / "model.gguf")
    text = chat.render(template, chat.engine_messages(spec.examples[0]), bos_token="", eos_token="")
    assert "[0.0s]<__media__>[2.5s]<__media__>Describe what happens in this video" in text
