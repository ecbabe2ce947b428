"""LoRA / QLoRA training of the language model of a vision-language model (peft, torch).

Why the pieces are as they are:
- Only the language model's projections get LoRA, through a regex anchored at the language
  model's module path: the vision tower (SigLIP) has q_proj/v_proj too, and llama.cpp's
  `convert_lora_to_gguf.py` silently drops adapter tensors on the vision side; no
  embeddings, no lm_head (the converter refuses those), no modules_to_save, no bias.
- Examples go through one at a time (their image tiles differ in shape, so they do not
  stack); `batch_size * grad_accum` examples make one optimizer step.
- A plain torch loop: one model, one optimizer, step events and a cancel check between
  examples; transformers' Trainer would add little but weight and its own signal handling.
Imported only in the training process.
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.finetune.dataset import EncodedExample
from models.finetune.events import Step
from models.finetune.spec import LoraSettings, TrainSettings

log = logging.getLogger(__name__)
# Below this many parameters activations are small: checkpointing would only cost time.
CHECKPOINTING_FROM_PARAMS = 100_000_000
# Below this, per-operation overhead dominates a CPU step: more threads only spin, and on a
# busy machine they made a tiny model's training ten times slower (67 s against 7 s).
ONE_THREAD_BELOW_PARAMS = 50_000_000
MAX_GRAD_NORM = 1.0
WARMUP_SHARE = 0.05
FINAL_LR_SHARE = 0.1
LANGUAGE_MODEL_NAMES = ("language_model", "text_model")
NO_QLORA = "4-bit QLoRA needs an NVIDIA GPU with CUDA"


class TrainingError(RuntimeError):
    """Training cannot go on; the message is for the user."""


class TrainingCancelled(Exception):
    """The user cancelled (SIGTERM / SIGINT) between two steps."""


@dataclass(frozen=True)
class Device:
    name: str  # "cuda" | "mps" | "cpu"
    method: str  # "lora" | "qlora"
    dtype_name: str  # "float32" | "bfloat16"


@dataclass(frozen=True)
class TrainOutcome:
    steps: int
    final_loss: float
    train_seconds: float
    trainable_parameters: int
    lora_modules: int


def pick_device(method: str, precision: str = "float32") -> tuple[Device, str]:
    """(device, why) for the plan's method ("lora" | "qlora"; "auto" decides here) and
    precision, checked against what this torch build can really do."""
    import importlib.util

    import torch

    if torch.cuda.is_available():
        dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
        has_bnb = importlib.util.find_spec("bitsandbytes") is not None
        name = torch.cuda.get_device_name(0)
        if method in ("auto", "qlora") and has_bnb:
            why = f"QLoRA: 4-bit NF4 weights on {name} (bitsandbytes), the least memory"
            return Device("cuda", "qlora", dtype), why
        if method == "qlora":
            raise TrainingError("QLoRA needs the bitsandbytes package (install the 'qlora' extra)")
        why = "bitsandbytes is not installed" if not has_bnb else "as asked"
        return Device("cuda", "lora", dtype), f"LoRA in {dtype} on {name} ({why})"
    if method == "qlora":
        raise TrainingError("QLoRA needs an NVIDIA GPU with CUDA; this machine has none")
    if torch.backends.mps.is_available():
        return Device("mps", "lora", "float32"), f"LoRA in float32 on the Apple GPU ({NO_QLORA})"
    dtype = "bfloat16" if precision == "bfloat16" else "float32"
    why = f"LoRA in {dtype} on the CPU ({NO_QLORA})"
    if dtype == "bfloat16":
        why = f"LoRA in bfloat16 on the CPU (float32 would not fit in memory; {NO_QLORA})"
    return Device("cpu", "lora", dtype), why


def load_model(model_dir: Path, device: Device) -> Any:
    """The base model in the device's precision; for QLoRA the language model in 4-bit."""
    import torch
    import transformers

    dtype = getattr(torch, device.dtype_name)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if device.method == "qlora":
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_use_double_quant=True,
            # Vision tower, projector and output head stay in full precision.
            llm_int8_skip_modules=["vision", "visual", "connector", "projector", "lm_head"],
        )
        kwargs["device_map"] = {"": 0}
    try:
        model: Any = transformers.AutoModelForImageTextToText.from_pretrained(
            str(model_dir), **kwargs
        )
    except ValueError as exc:
        raise TrainingError(f"transformers cannot load this model for training ({exc})") from exc
    if device.method != "qlora":
        model = model.to(device.name)
    return model


def language_model_prefix(model: Any) -> str:
    """Module path of the language model inside the VLM (e.g. "model.text_model")."""
    found: list[str] = [
        name for name, _ in model.named_modules() if name.rsplit(".", 1)[-1] in LANGUAGE_MODEL_NAMES
    ]
    if found:
        return min(found, key=len)
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    for name, module in model.named_modules():
        if module is decoder and name:
            return str(name)
    raise TrainingError("cannot find the language model inside this model")


def lora_target_regex(model: Any, targets: tuple[str, ...]) -> tuple[str, list[str]]:
    """(regex for peft, the module names it matches): the targets inside the language model
    only, and only plain Linear layers, so nothing is dropped at GGUF export."""
    import torch

    prefix = language_model_prefix(model)
    names = "|".join(re.escape(t) for t in targets)
    pattern = rf"^{re.escape(prefix)}\..*\.(?:{names})$"
    compiled = re.compile(pattern)
    matched = [
        name
        for name, module in model.named_modules()
        if compiled.match(name) and _is_linear(module, torch)
    ]
    if not matched:
        raise TrainingError(
            f"no layer named {', '.join(targets)} in the language model ({prefix}); "
            "check the LoRA target modules"
        )
    return pattern, matched


def _is_linear(module: Any, torch: Any) -> bool:
    if isinstance(module, torch.nn.Linear):
        return True
    return type(module).__name__ in ("Linear4bit", "Linear8bitLt")


def add_lora(
    model: Any, lora: LoraSettings, device: Device, checkpointing: bool, seed: int = 0
) -> Any:
    """Wrap the model with LoRA on the language model's target projections.

    For QLoRA, peft's prepare_model_for_kbit_training is not used: it upcasts every
    non-quantized weight (the whole vision tower) to float32, which costs the memory QLoRA
    is chosen to save and would no longer match the bfloat16 inputs.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    pattern, matched = lora_target_regex(model, lora.target_modules)
    log.info("LoRA on %d modules: %s", len(matched), pattern)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    config = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,  # type: ignore[arg-type]  # peft says int; alpha / r is a float anyway
        lora_dropout=lora.dropout,
        target_modules=pattern,
        bias="none",
        task_type="CAUSAL_LM",
    )
    torch.manual_seed(seed)  # LoRA's A matrices start random: the same seed, the same run
    return get_peft_model(model, config)


def wants_checkpointing(model: Any, settings: TrainSettings) -> bool:
    if settings.gradient_checkpointing is not None:
        return settings.gradient_checkpointing
    parameters: int = sum(p.numel() for p in model.parameters())
    return parameters >= CHECKPOINTING_FROM_PARAMS


def total_steps(examples: int, settings: TrainSettings) -> int:
    per_step = settings.batch_size * settings.grad_accum
    return math.ceil(examples / per_step) * settings.epochs


def train_loop(
    model: Any,
    data: Sequence[EncodedExample],
    settings: TrainSettings,
    device: Device,
    *,
    on_step: Callable[[Step], None],
    should_stop: Callable[[], bool],
) -> TrainOutcome:
    """AdamW with a short warm-up and linear decay; one step event per optimizer step."""
    import torch

    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)
    steps = total_steps(len(data), settings)
    warmup = max(1, round(steps * WARMUP_SHARE))

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        left = (steps - step) / max(1, steps - warmup)
        return FINAL_LR_SHARE + (1 - FINAL_LR_SHARE) * max(0.0, left)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    if (
        device.name == "cpu"
        and sum(p.numel() for p in model.parameters()) < ONE_THREAD_BELOW_PARAMS
    ):
        torch.set_num_threads(1)
    per_step = settings.batch_size * settings.grad_accum
    dtype = getattr(torch, device.dtype_name)
    model.train()
    started = time.perf_counter()
    step, loss_value = 0, float("nan")
    for epoch in range(settings.epochs):
        order = list(range(len(data)))
        rng.shuffle(order)
        for first in range(0, len(order), per_step):
            chunk = order[first : first + per_step]
            losses = []
            for index in chunk:
                if should_stop():
                    raise TrainingCancelled()
                inputs = _to_device(data[index].inputs, device.name, dtype)
                loss = model(**inputs).loss
                if not torch.isfinite(loss):
                    raise TrainingError(
                        "the training loss became infinite or NaN; try a lower learning rate"
                    )
                (loss / len(chunk)).backward()
                losses.append(float(loss.detach()))
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_value = sum(losses) / len(losses)
            elapsed = time.perf_counter() - started
            on_step(
                Step(
                    step=step,
                    total_steps=steps,
                    epoch=round(epoch + (first + len(chunk)) / len(order), 4),
                    epochs=settings.epochs,
                    loss=round(loss_value, 6),
                    elapsed_seconds=round(elapsed, 3),
                    eta_seconds=round(elapsed / step * (steps - step), 1),
                )
            )
    return TrainOutcome(
        steps=step,
        final_loss=loss_value,
        train_seconds=time.perf_counter() - started,
        trainable_parameters=sum(p.numel() for p in params),
        lora_modules=0,
    )


def _to_device(inputs: dict[str, Any], device: str, dtype: Any) -> dict[str, Any]:
    moved = {}
    for key, value in inputs.items():
        if value.is_floating_point():
            value = value.to(dtype)
        moved[key] = value.to(device)
    return moved


def save_adapter(model: Any, directory: Path) -> None:
    """adapter_config.json + adapter_model.safetensors (peft's format, the converter's input)."""
    model.save_pretrained(str(directory), safe_serialization=True)
