"""What fine-tuning needs on this machine, and whether it can run: shown before Start.

No heavy imports (the GUI calls this): the device is found the way `models.hardware` finds
it (nvidia-smi, Apple Silicon), torch's build is read from its version file without
importing it. Memory and time are estimates from the model's parameter count:

    memory = weights + LoRA training state + activations + runtime
      weights      params x bytes per parameter (float32 4, bfloat16 2, QLoRA ~1: the
                   language model in 4-bit NF4, the vision tower in bf16, dequant buffers)
      LoRA state   ~0.45 % of the params at r=64 on q/v, x16 bytes (weights, grads, Adam)
      activations  0.5 GB + 0.25 GB per billion params (batch 1, gradient checkpointing,
                   logits over the vocabulary included)
      runtime      0.8 GB (torch, transformers, the processor)
These land on the figures in ENGINE-FACTS (256M ~2-3 GB, 500M ~3-4 GB, Qwen2.5-VL-3B
~10 GB bf16 / ~6 GB QLoRA); they are estimates, not measurements of those models.
    time = examples x epochs x tokens x FLOPs per token / throughput
      FLOPs per token  6 x params (forward, backward through frozen weights, recompute)
      tokens           the image tokens at 512 px plus ~150 of prompt and answer
      throughput       CPU ~20 GFLOP/s per physical core (half of float32 matmul speed;
                       tests/benchmarks/bench_finetune.py measured 28-73 GFLOP/s per core
                       on a 2-core VM, busy to idle), consumer GPU ~15 TFLOP/s (bf16,
                       ~30 % of peak; QLoRA x0.6), Apple GPU ~3 TFLOP/s
"""

from __future__ import annotations

import importlib.util
import platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from models.catalog import CatalogEntry, load_catalog
from models.finetune import runtime
from models.finetune.install import QLORA_MODULES, missing_packages

MIN_TRAINING_EXAMPLES = 4
GB = 1024**3
BYTES_PER_PARAM = {"float32": 4.0, "bfloat16": 2.0, "qlora": 1.0}
LORA_SHARE_AT_R64 = 0.0045
LORA_STATE_BYTES = 16
ACTIVATIONS_GB = 0.5
ACTIVATIONS_GB_PER_BILLION = 0.25
RUNTIME_GB = 0.8
FLOPS_PER_PARAM_TOKEN = 6
TEXT_TOKENS = 150
IMAGE_TOKEN_SHARE_AT_512 = 0.4  # image_tokens_hint is for ~1024 px; training uses 512 px
CPU_FLOPS_PER_CORE = 20e9
GPU_FLOPS = {"cuda": 15e12, "mps": 3e12}
QLORA_SPEED = 0.6
MEMORY_HEADROOM = 0.9  # leave a tenth for the rest of the machine
NO_QLORA = "4-bit QLoRA needs an NVIDIA GPU with CUDA"


@dataclass(frozen=True)
class Machine:
    """What training can use here (injectable for tests)."""

    device: str  # "cuda" | "mps" | "cpu"
    memory_gb: float  # VRAM for cuda, available RAM otherwise
    cores: int
    gpu_name: str | None = None
    qlora_installed: bool = False
    bf16: bool = False  # the device trains well in bfloat16


@dataclass(frozen=True)
class TrainingPlan:
    possible: bool
    refusal: str | None  # why not, in words a user understands
    method: str  # "lora" | "qlora"
    method_reason: str
    device: str  # "cuda" | "mps" | "cpu"
    memory_needed_gb: float
    memory_available_gb: float
    estimated_seconds: float
    missing_packages: list[str] = field(default_factory=list)
    precision: str = "float32"  # of the base weights while training: float32 | bfloat16


def detect_machine(data_root: Path | None = None) -> Machine:
    import psutil

    from models.hardware import nvidia_gpu

    cores = psutil.cpu_count(logical=False) or 1
    available = psutil.virtual_memory().available / GB
    if runtime.packaged():  # the training runtime has bitsandbytes when it was built for CUDA
        installed = runtime.status(data_root, measure=False) if data_root else None
        qlora = bool(installed and installed.torch_variant == "cuda")
    else:
        qlora = not missing_packages(QLORA_MODULES)
    gpu = nvidia_gpu()
    if gpu is not None and _torch_build() != "cpu":
        return Machine("cuda", gpu[1], cores, gpu[0], qlora, bf16=True)
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return Machine("mps", available, cores, "Apple GPU", False)
    return Machine("cpu", available, cores, None, False)


def _torch_build() -> str | None:
    """ "cuda", "cpu", or None when torch is not installed (pip would pick the build)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        text = version_file.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^cuda\s*(?::[^=]*)?=\s*(.+)$", text, re.MULTILINE)
    return "cuda" if match and match.group(1).strip() not in ("None", "") else "cpu"


def memory_gb(params_billion: float, precision: str, rank: int) -> float:
    weights = params_billion * BYTES_PER_PARAM[precision]
    lora = params_billion * LORA_SHARE_AT_R64 * (rank / 64) * LORA_STATE_BYTES
    activations = ACTIVATIONS_GB + ACTIVATIONS_GB_PER_BILLION * params_billion
    return round(weights + lora + activations + RUNTIME_GB, 1)


def tokens_per_example(entry: CatalogEntry | None) -> float:
    image = entry.image_tokens_hint * IMAGE_TOKEN_SHARE_AT_512 if entry else 256
    return image + TEXT_TOKENS


def seconds(
    params_billion: float, examples: int, epochs: int, tokens: float, machine: Machine, method: str
) -> float:
    flops = FLOPS_PER_PARAM_TOKEN * params_billion * 1e9 * tokens * examples * epochs
    speed = GPU_FLOPS.get(machine.device, CPU_FLOPS_PER_CORE * max(1, machine.cores))
    if method == "qlora":
        speed *= QLORA_SPEED
    return round(flops / speed, 1)


def training_plan(
    model_id: str,
    *,
    base_weights_repo: str | None,
    examples: int,
    epochs: int,
    rank: int,
    method: str = "auto",
    machine: Machine | None = None,
    entry: CatalogEntry | None = None,
    data_root: Path | None = None,
) -> TrainingPlan:
    """Whether training can run here, with which method and why, and what it will cost.

    In the packaged app the training packages live in the private runtime under
    `data_root` (models/finetune/runtime.py): without it, they are all missing."""
    machine = machine or detect_machine(data_root)
    if entry is None:
        entry = load_catalog().get(model_id)
    method_used, precision, reason = _method(method, machine)
    params = entry.params_billion if entry else 0.0
    weights = "qlora" if method_used == "qlora" else precision
    needed = memory_gb(params, weights, rank) if params else 0.0
    room = machine.memory_gb * MEMORY_HEADROOM
    if machine.device == "cpu" and needed > room and memory_gb(params, "bfloat16", rank) <= room:
        # float32 does not fit: bfloat16 halves the weights (slower on most CPUs).
        needed, precision = memory_gb(params, "bfloat16", rank), "bfloat16"
        reason = f"LoRA in bfloat16 on the CPU (float32 would not fit in memory; {NO_QLORA})"
    missing = _missing(data_root)
    estimate = seconds(params, examples, epochs, tokens_per_example(entry), machine, method_used)
    refusal = _refusal(
        model_id, base_weights_repo, examples, missing, needed, machine, method, method_used
    )
    return TrainingPlan(
        possible=refusal is None,
        refusal=refusal,
        method=method_used,
        method_reason=reason,
        device=machine.device,
        memory_needed_gb=needed,
        memory_available_gb=round(machine.memory_gb, 1),
        estimated_seconds=estimate,
        missing_packages=missing,
        precision=precision,
    )


def _method(method: str, machine: Machine) -> tuple[str, str, str]:
    """(method, precision, why) chosen for this machine."""
    if machine.device == "cuda":
        gpu = machine.gpu_name or "the NVIDIA GPU"
        if method in ("auto", "qlora") and machine.qlora_installed:
            why = f"QLoRA: 4-bit NF4 weights on {gpu} (bitsandbytes), the least memory"
            return "qlora", "bfloat16", why
        why = "bitsandbytes is not installed" if not machine.qlora_installed else "as asked"
        return "lora", "bfloat16", f"LoRA in bfloat16 on {gpu} ({why})"
    if machine.device == "mps":
        return "lora", "float32", f"LoRA in float32 on the Apple GPU ({NO_QLORA})"
    return "lora", "float32", f"LoRA in float32 on the CPU ({NO_QLORA})"


RUNTIME_MISSING = "training components"  # the packaged app's one missing "package"


def _missing(data_root: Path | None) -> list[str]:
    if not runtime.packaged():
        return missing_packages()
    ready = data_root is not None and runtime.ready_python(data_root) is not None
    return [] if ready else [RUNTIME_MISSING]


def runtime_refusal() -> str:
    """The packaged app without its training runtime: what it needs, exactly."""
    gb = runtime.download_gb()
    hosts = "pypi.org and download.pytorch.org" if runtime.torch_variant() == "cpu" else "pypi.org"
    return (
        f"Fine-tuning needs the training components: install them (about {gb:.0f} GB, "
        f"downloaded once from {hosts}; an internet connection is needed for that), with "
        "the button below or `captionist finetune-runtime install`. They stay in "
        "Captionist's data folder and can be removed from this screen."
    )


def _refusal(
    model_id: str,
    repo: str | None,
    examples: int,
    missing: list[str],
    needed: float,
    machine: Machine,
    asked: str,
    used: str,
) -> str | None:
    if not repo:
        return (
            f"Fine-tuning is unavailable for {model_id}: it is a custom GGUF model with no known "
            "original (Hugging Face) weights to train."
        )
    if examples < MIN_TRAINING_EXAMPLES:
        return (
            f"At least {MIN_TRAINING_EXAMPLES} corrections are needed to fine-tune; "
            f"{examples} can be used now. Correct a few more captions first."
        )
    if asked == "qlora" and used != "qlora":
        if machine.device != "cuda":
            return "QLoRA needs an NVIDIA GPU with CUDA, and this machine has none; use LoRA."
        return "QLoRA needs the bitsandbytes package: install the 'qlora' extra, or use LoRA."
    if missing == [RUNTIME_MISSING]:
        return runtime_refusal()
    if missing:
        return (
            "The training components are not installed (" + ", ".join(missing) + "). "
            "Install them from this screen (about 1 GB to download) or with "
            "pip install 'captionist[finetune]'."
        )
    where = "GPU memory" if machine.device == "cuda" else "free memory"
    if needed and needed > machine.memory_gb * MEMORY_HEADROOM:
        return (
            f"Training {model_id} needs about {needed:.1f} GB of {where}; "
            f"{machine.memory_gb:.1f} GB is available. Close other programs, or pick a "
            "smaller model."
        )
    return None
