"""Real LoRA training of the tiny SmolVLM fixture on CPU, exported to GGUF, run in llama.cpp.

Four photos get four distinctive captions; the LoRA is trained until the model reproduces
them, converted with llama.cpp's own converter and loaded beside the GGUF with the mmproj.
The greedy caption of each trained photo must then be its correction; without the adapter
it is not. (Qwen2.5-VL: test_finetune_qwen.py.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from safetensors import safe_open

from models.finetune import dataset, evaluate, train
from models.finetune.export import gguf_modules, peft_modules
from models.finetune.spec import LoraSettings, TrainingSpec
from models.runtime import CaptionEngine
from tests.models.conftest import FIXTURES
from tests.models.finetune_data import CAPTIONS, spec_dict
from tests.models.finetune_training import SHORT_GREEDY, Trained, train_and_export

pytestmark = pytest.mark.slow
HF = FIXTURES / "smolvlm" / "hf"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return train_and_export("smolvlm", tmp_path_factory.mktemp("smolvlm"))


def test_llama_cpp_with_the_adapter_says_the_corrected_captions(trained: Trained) -> None:
    never = lambda: False  # noqa: E731
    with evaluate.open_with_adapter(trained.spec, trained.adapter) as engine:
        after = evaluate.evaluate(engine, trained.spec.examples, never, SHORT_GREEDY)
        # The training prompt is token for token the engine's (SmolVLM: llama.cpp counts
        # tokens, image tokens included), for a square and a landscape photo (other tiles).
        for example, encoded in list(zip(trained.spec.examples, trained.data, strict=True))[:2]:
            result = engine.caption(
                [example.images[0].read_bytes()], example.prompt, sampling=SHORT_GREEDY
            )
            assert result.prompt_tokens == encoded.prompt_tokens
    with CaptionEngine(evaluate.engine_config(trained.spec, None)) as engine:
        before = evaluate.evaluate(engine, trained.spec.examples, never, SHORT_GREEDY)
    for sample in after.samples:
        assert sample["candidate"] == CAPTIONS[sample["id"]]
    assert not [s for s in before.samples if s["candidate"] == s["reference"]]
    assert after.metrics["bleu4"] == pytest.approx(1.0)
    assert after.metrics["cider"] > before.metrics["cider"] + 5


def test_lora_reaches_the_language_model_only(trained: Trained) -> None:
    vision = [n for n in trained.all_modules if n.startswith("model.vision_model.")]
    assert [n for n in vision if n.endswith(("q_proj", "v_proj"))]  # a bare q_proj would hit
    assert not [n for n in trained.matched if n.startswith("model.vision_model.")]
    assert len(trained.matched) == 2 * 7  # 2 layers x 7 projections
    assert all(re.match(r"model\.text_model\.layers\.\d+\.", n) for n in trained.matched)
    with safe_open(str(trained.peft_dir / "adapter_model.safetensors"), framework="pt") as f:
        keys = list(f.keys())
    assert keys and not [k for k in keys if "vision" in k or "embed" in k or "lm_head" in k]
    # Every trained layer arrived in the GGUF (the converter drops what it cannot map).
    assert len(gguf_modules(trained.adapter)) == len(peft_modules(trained.peft_dir)) == 14


def test_the_loss_is_on_the_answer_tokens_only(trained: Trained) -> None:
    tokenizer = dataset.load_processor(HF).tokenizer
    for example, encoded in zip(trained.spec.examples, trained.data, strict=True):
        labels = encoded.inputs["labels"][0]
        assert (labels[: encoded.prompt_tokens] == dataset.IGNORE_INDEX).all()
        answer = labels[encoded.prompt_tokens :]
        assert (answer != dataset.IGNORE_INDEX).all() and len(answer) == encoded.answer_tokens
        assert tokenizer.decode(answer) == example.target.answer_json() + "<end_of_utterance>"


def test_loss_falls_and_steps_are_reported(trained: Trained) -> None:
    steps = trained.steps
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    assert len(steps) == steps[-1]["total_steps"] == 4 * trained.spec.train.epochs
    assert steps[-1]["epoch"] == pytest.approx(trained.spec.train.epochs)
    assert steps[-1]["eta_seconds"] == 0 and steps[0]["eta_seconds"] > 0
    first, last = steps[0]["loss"], sum(s["loss"] for s in steps[-8:]) / 8
    assert last < first / 2.5


def test_cancel_stops_training_between_steps(trained: Trained) -> None:
    device, _ = train.pick_device("lora")
    model = train.add_lora(train.load_model(HF, device), trained.spec.lora, device, False)
    calls: list[int] = []

    def stop_on_third_example() -> bool:
        calls.append(1)
        return len(calls) >= 3

    steps: list[dict[str, Any]] = []
    with pytest.raises(train.TrainingCancelled):
        train.train_loop(model, trained.data, trained.spec.train, device, on_step=steps.append,
                         should_stop=stop_on_third_example)  # fmt: skip
    assert len(steps) == 2


def test_the_regex_refuses_targets_the_language_model_lacks() -> None:
    device, _ = train.pick_device("lora")
    model = train.load_model(HF, device)
    with pytest.raises(train.TrainingError, match="no layer named qkv"):
        train.add_lora(model, LoraSettings(target_modules=("qkv",)), device, False)


def test_a_video_example_trains_on_its_keyframes_and_moments(tmp_path: Path) -> None:
    raw = spec_dict(tmp_path)
    video = raw["examples"][0]
    video["images"] = [raw["examples"][i]["images"][0] for i in range(3)]
    video["timestamps"] = [0.0, 2.5, 7.0]
    video["target"]["moments"] = ["An astronaut.", "A cup of coffee.", "A cat."]
    spec = TrainingSpec.from_dict(raw)
    processor = dataset.load_processor(HF)
    fmt = dataset.prompt_format(processor, spec.base_gguf)
    encoded = dataset.encode(spec.examples[0], processor, fmt, 512)
    photo = dataset.encode(spec.examples[1], processor, fmt, 512)
    ids = encoded.inputs["input_ids"][0][: encoded.prompt_tokens]
    image_token = processor.tokenizer.convert_tokens_to_ids("<image>")
    per_image = int((photo.inputs["input_ids"][0] == image_token).sum())
    assert int((ids == image_token).sum()) == 3 * per_image  # every keyframe is seen
    assert encoded.inputs["pixel_values"].shape[1] > photo.inputs["pixel_values"].shape[1]
    prompt = processor.tokenizer.decode(ids)
    assert "[0.0s]" in prompt and "[7.0s]" in prompt and "frames from one video" in prompt
    labels = encoded.inputs["labels"][0][encoded.prompt_tokens :]
    answer = processor.tokenizer.decode(labels).removesuffix("<end_of_utterance>")
    assert json.loads(answer)["moments"] == ["An astronaut.", "A cup of coffee.", "A cat."]


def test_examples_beyond_the_memory_budget_are_encoded_again_when_needed(
    trained: Trained,
) -> None:
    processor = dataset.load_processor(HF)
    examples = list(trained.spec.examples)
    uncached = dataset.encode_all(examples, processor, trained.fmt, 512, cache_bytes=0)
    assert len(uncached) == 4 and uncached.prompt_tokens == trained.data.prompt_tokens
    for again, first in zip(uncached, trained.data, strict=True):
        assert again is not first and again.inputs.keys() == first.inputs.keys()
        for key, value in first.inputs.items():
            assert (again.inputs[key] == value).all()
    assert trained.data[0] is trained.data[0]  # within the budget: kept, not re-encoded
