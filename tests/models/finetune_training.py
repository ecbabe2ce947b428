"""Train the tiny fixture models for real (CPU) and export the adapter: shared by the
fine-tuning test files, which each train once per module."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.finetune import dataset, train
from models.finetune.export import export_adapter
from models.finetune.llama_tools import ensure_tools
from models.finetune.spec import TrainingSpec
from models.prompts import AnswerLimits
from models.runtime import Sampling
from tests.models.conftest import FIXTURES
from tests.models.finetune_data import spec_dict

# Greedy, with captions bounded near the targets' length: the untrained random model would
# otherwise babble to the 512-character limit on every photo.
SHORT_GREEDY = Sampling(
    temperature=0.0, top_p=1.0, repeat_penalty=1.0, limits=AnswerLimits(48, max_tags=2)
)


@dataclass
class Trained:
    spec: TrainingSpec
    data: dataset.EncodedExamples
    fmt: dataset.PromptFormat
    steps: list[dict[str, Any]]
    regex: str
    matched: list[str]
    all_modules: list[str]
    peft_dir: Path
    adapter: Path


def train_and_export(architecture: str, tmp_path: Path) -> Trained:
    spec = TrainingSpec.from_dict(spec_dict(tmp_path, architecture))
    hf = FIXTURES / architecture / "hf"
    device, _ = train.pick_device("lora")
    processor = dataset.load_processor(hf)
    fmt = dataset.prompt_format(processor, spec.base_gguf)
    data = dataset.encode_all(list(spec.examples), processor, fmt, spec.train.max_image_side)
    model = train.load_model(hf, device)
    all_modules = [name for name, _ in model.named_modules()]
    regex, matched = train.lora_target_regex(model, spec.lora.target_modules)
    model = train.add_lora(model, spec.lora, device, False, spec.train.seed)
    steps: list[dict[str, Any]] = []
    train.train_loop(
        model,
        data,
        spec.train,
        device,
        on_step=lambda s: steps.append(s.to_dict()),
        should_stop=lambda: False,
    )
    peft_dir = tmp_path / "peft"
    train.save_adapter(model, peft_dir)
    adapter = tmp_path / "adapter.gguf"
    export_adapter(peft_dir, hf, adapter, ensure_tools())
    return Trained(spec, data, fmt, steps, regex, matched, all_modules, peft_dir, adapter)
