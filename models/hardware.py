"""What this machine can run: memory, cores, GPU, and the default model that follows from them.

Detection is best effort and never raises: a missing `nvidia-smi`, a CPU-only llama.cpp build
or an odd platform just means "no GPU", which picks a small model that works everywhere.
`Hardware` is a plain dataclass so the GUI, the CLI and the tests can pass in any profile.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from models.catalog import CatalogEntry

GIB = 1024**3
# Metal lets the GPU use about two thirds of unified memory by default (more on big machines).
APPLE_GPU_SHARE = 0.66

# Default-model rules, strongest first: (minimum GPU memory in GB, model id). The limits sit a
# little under 12 / 6 / 4 GB because such cards and machines report slightly less than that.
GPU_DEFAULTS = ((11.5, "qwen2.5-vl-7b"), (5.5, "qwen2.5-vl-3b"))
CPU_DEFAULT = "smolvlm2-500m"
LOW_RAM_DEFAULT = "smolvlm2-256m"
LOW_RAM_GB = 3.5


@dataclass(frozen=True)
class Hardware:
    ram_gb: float
    physical_cores: int
    gpu_offload: bool  # the installed llama.cpp build can offload layers to a GPU
    vram_gb: float | None = None  # dedicated VRAM, or the GPU's share of unified memory
    gpu_name: str | None = None
    unified_memory: bool = False  # Apple Silicon: the GPU memory *is* the RAM

    @property
    def gpu_usable(self) -> bool:
        """A GPU we can both offload to and size; otherwise plan for the CPU."""
        return self.gpu_offload and self.vram_gb is not None and self.vram_gb > 0


def detect_hardware(gpu_offload: bool | None = None) -> Hardware:
    """This machine. `gpu_offload` is the llama.cpp build's answer when the caller
    already has it (the GUI asks a child process, never loading llama.cpp itself);
    None asks the build here."""
    ram_gb = psutil.virtual_memory().total / GIB
    cores = physical_cores()
    offload = llama_supports_gpu_offload() if gpu_offload is None else gpu_offload
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return Hardware(ram_gb, cores, offload, ram_gb * APPLE_GPU_SHARE, "Apple Silicon", True)
    nvidia = nvidia_gpu()
    if nvidia is not None:
        return Hardware(ram_gb, cores, offload, nvidia[1], nvidia[0])
    return Hardware(ram_gb, cores, offload)


def physical_cores() -> int:
    """Physical cores (llama.cpp runs best with one thread each), else logical ones."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


@functools.cache
def llama_supports_gpu_offload() -> bool:
    """Ask the llama.cpp build itself; imported lazily because loading it costs a moment."""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:  # not installed, or the native library fails to load
        return False


def nvidia_gpu() -> tuple[str, float] | None:
    """(name, VRAM in GB) of the largest NVIDIA GPU, via nvidia-smi when it is installed."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        query = [exe, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]
        result = subprocess.run(query, capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_nvidia_smi(result.stdout.splitlines())


def parse_nvidia_smi(lines: Iterable[str]) -> tuple[str, float] | None:
    best: tuple[str, float] | None = None
    for line in lines:
        name, _, mib = line.rpartition(",")
        try:
            gb = float(mib.strip()) / 1024
        except ValueError:
            continue
        if best is None or gb > best[1]:
            best = (name.strip() or "NVIDIA GPU", gb)
    return best


def fits(entry: CatalogEntry, hardware: Hardware) -> tuple[bool, str]:
    """Whether `entry` can run here, with a reason a user can read next to the model."""
    gpu = hardware.gpu_name or "GPU"
    vram = hardware.vram_gb if hardware.gpu_usable else None
    if vram is not None and vram >= entry.vram_gb:
        return True, f"fits the {gpu} (needs ~{_gb(entry.vram_gb)} of {_gb(vram)})"
    if hardware.ram_gb >= entry.ram_gb and vram is not None:
        return True, (
            f"too big for the {gpu} ({_gb(vram)}); runs on the CPU, slower "
            f"(needs ~{_gb(entry.ram_gb)} RAM)"
        )
    return fits_on_cpu(entry.ram_gb, hardware)


def fits_on_cpu(ram_gb: float, hardware: Hardware) -> tuple[bool, str]:
    """Whether a model needing `ram_gb` runs on this CPU (text-embedding models always do)."""
    if hardware.ram_gb >= ram_gb:
        return True, f"runs on the CPU (needs ~{_gb(ram_gb)} RAM of {_gb(hardware.ram_gb)})"
    return False, f"needs ~{_gb(ram_gb)} RAM, this machine has {_gb(hardware.ram_gb)}"


def default_model(catalog: Iterable[CatalogEntry], hardware: Hardware) -> CatalogEntry:
    """The model to suggest first: the strongest the GPU holds, else a small CPU model."""
    entries = {entry.id: entry for entry in catalog}
    if not entries:
        raise ValueError("the catalog is empty")
    wanted: list[str] = []
    if hardware.gpu_usable and hardware.vram_gb is not None:
        wanted += [model_id for need, model_id in GPU_DEFAULTS if hardware.vram_gb >= need]
    wanted.append(CPU_DEFAULT if hardware.ram_gb >= LOW_RAM_GB else LOW_RAM_DEFAULT)
    wanted.append(LOW_RAM_DEFAULT)
    for model_id in wanted:
        if model_id in entries and fits(entries[model_id], hardware)[0]:
            return entries[model_id]
    # A custom catalog without those ids (or a tiny machine): the lightest model there is.
    return min(entries.values(), key=lambda entry: (entry.ram_gb, entry.download_mb))


def _gb(value: float) -> str:
    text = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"
    return f"{text} GB"
