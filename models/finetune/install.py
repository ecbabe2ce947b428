"""Is the training extra installed, and the command that installs it (run by the GUI).

Training needs torch, transformers, peft and accelerate (~1 GB), so they are an optional
extra (`captionist[finetune]`); the screen offers to install it. Nothing is imported here:
`importlib.util.find_spec` only looks packages up.
"""

from __future__ import annotations

import importlib.util
import platform
import sys
from pathlib import Path

from models.hardware import nvidia_gpu

# import name -> distribution name, for what the training process imports.
TRAINING_MODULES = {
    "torch": "torch",
    "transformers": "transformers",
    "peft": "peft",
    "accelerate": "accelerate",
    "safetensors": "safetensors",
    "sentencepiece": "sentencepiece",
    "num2words": "num2words",  # SmolVLM's processor spells out numbers with it
}
QLORA_MODULES = {"bitsandbytes": "bitsandbytes"}
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def missing_packages(modules: dict[str, str] = TRAINING_MODULES) -> list[str]:
    """Distribution names of the training packages this interpreter cannot import."""
    return [dist for module, dist in modules.items() if importlib.util.find_spec(module) is None]


def _nvidia_gpu_present() -> bool:
    return nvidia_gpu() is not None


def _requirement(extras: str) -> str:
    """The editable checkout when running from one (as set up by the README), else the
    installed distribution by name."""
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return f"{PROJECT_ROOT}[{extras}]"
    return f"captionist[{extras}]"


def pip_install_command() -> list[str]:
    """Installs the training extra into the running interpreter's environment.

    On a machine without an NVIDIA GPU, torch comes from PyTorch's CPU index (the default
    Linux wheel drags in ~3 GB of CUDA libraries nobody would use); with one, the default
    build plus the `qlora` extra (bitsandbytes) for 4-bit training.
    """
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check"]
    if _nvidia_gpu_present():
        return [*command, _requirement("finetune,qlora")]
    if sys.platform.startswith("linux") or (
        sys.platform == "win32" and platform.machine().lower() in ("amd64", "x86_64")
    ):
        command += ["--extra-index-url", CPU_TORCH_INDEX]
    return [*command, _requirement("finetune")]
