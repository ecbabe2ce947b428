"""What the Models settings page and the first-run welcome show, computed without Qt.

The GUI process must never load llama.cpp (a native crash there would take the library
window down, and loading it costs a moment), yet the user wants to know whether the installed
build can use CUDA, Metal or only the CPU. So `probe_llama_build` asks a short-lived child
interpreter, and `models.hardware.detect_hardware` is given that answer instead of
importing llama.cpp here. Everything in this module may block (subprocesses, disk,
the database): callers run it on a background thread.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from app.core.storage.db import Database
from app.core.storage.schema import Root
from models.catalog import Catalog, CatalogEntry
from models.errors import InvalidModelFiles
from models.hardware import Hardware, default_model, detect_hardware, fits
from models.installed import has_partial_download, read_installed
from models.spec import ModelSpec, custom_model_spec

PROBE_TIMEOUT_S = 30.0
# ggml backend registries that are not a GPU; any other name (CUDA, Metal, Vulkan, ROCm,
# SYCL, ...) in llama.cpp's system info is one.
NOT_GPU = {"CPU", "BLAS", "RPC", "AMX"}
_PROBE_CODE = (
    "import json, llama_cpp\n"
    "print(json.dumps({'offload': bool(llama_cpp.llama_supports_gpu_offload()),"
    " 'info': llama_cpp.llama_print_system_info().decode('utf-8', 'replace'),"
    " 'version': getattr(llama_cpp, '__version__', '')}))\n"
)
_BACKEND = re.compile(r"(?:^|\|)\s*([A-Za-z][\w-]*) : ")


@dataclass(frozen=True)
class LlamaBuild:
    """What the installed llama.cpp build can run on, as reported by the build itself."""

    loaded: bool
    gpu_offload: bool = False
    backends: tuple[str, ...] = ()
    version: str = ""
    problem: str = ""  # why llama.cpp could not be loaded, for the user

    @property
    def label(self) -> str:
        """The word shown next to "llama.cpp": CUDA, Metal, Vulkan, ... or CPU only."""
        if not self.loaded:
            return "not available"
        if not self.gpu_offload:
            return "CPU only"
        gpus = [name for name in self.backends if name not in NOT_GPU]
        if gpus:
            return " + ".join(gpus)
        return "Metal" if sys.platform == "darwin" else "GPU"

    def describe(self) -> str:
        if not self.loaded:
            return f"llama.cpp could not be loaded, so captioning cannot run: {self.problem}"
        version = f"llama-cpp-python {self.version}: " if self.version else ""
        if not self.gpu_offload:
            return f"{version}CPU only (this build cannot offload to a GPU)"
        return f"{version}{self.label} (can offload layers to the GPU)"


@dataclass(frozen=True)
class MachineInfo:
    hardware: Hardware
    build: LlamaBuild

    def describe(self) -> str:
        """One line about the computer: memory, cores and the GPU llama.cpp can use."""
        hw = self.hardware
        parts = [f"{hw.ram_gb:.0f} GB RAM", f"{hw.physical_cores} cores"]
        if hw.gpu_name:
            vram = f", {hw.vram_gb:.0f} GB" if hw.vram_gb and not hw.unified_memory else ""
            usable = "" if hw.gpu_usable else " (not used by this llama.cpp build)"
            parts.append(f"{hw.gpu_name}{vram}{usable}")
        return " · ".join(parts)


_machine: MachineInfo | None = None
_machine_lock = threading.Lock()


def parse_backends(system_info: str) -> tuple[str, ...]:
    """Backend names from `llama_print_system_info()`, e.g. "CUDA : ARCHS = 860 | CPU : ..."."""
    return tuple(dict.fromkeys(_BACKEND.findall(system_info)))


def probe_llama_build(python: str = sys.executable, timeout: float = PROBE_TIMEOUT_S) -> LlamaBuild:
    """Ask a child interpreter what llama.cpp can do; a crash there only means "unknown"."""
    try:
        result = subprocess.run(
            [python, "-c", _PROBE_CODE],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return LlamaBuild(False, problem=f"the check did not finish ({exc})")
    if result.returncode != 0:
        lines = (result.stderr or "").strip().splitlines()
        reason = lines[-1] if lines else f"exit code {result.returncode}"
        return LlamaBuild(False, problem=reason)
    try:
        answer = json.loads(result.stdout.strip().splitlines()[-1])
        return LlamaBuild(
            True,
            gpu_offload=bool(answer["offload"]),
            backends=parse_backends(str(answer["info"])),
            version=str(answer.get("version", "")),
        )
    except (IndexError, KeyError, TypeError, ValueError):
        return LlamaBuild(False, problem="the check gave an unreadable answer")


def probe_machine() -> MachineInfo:
    """The hardware and the llama.cpp build; the first call takes a moment (a child process).

    A good answer is kept for the session (neither the build nor the hardware changes while
    the app runs), so reopening Settings is instant; a failed check is tried again next time.
    """
    global _machine
    with _machine_lock:
        if _machine is not None:
            return _machine
    build = probe_llama_build()
    info = MachineInfo(detect_hardware(build.gpu_offload), build)
    if build.loaded:
        with _machine_lock:
            _machine = info
    return info


@dataclass(frozen=True)
class ModelRow:
    """One catalog model as the Models page lists it."""

    entry: CatalogEntry
    installed: bool
    partial: bool  # a stopped download waits to be resumed
    fits: bool | None  # None until the hardware is known
    fit_reason: str
    recommended: bool


def model_rows(catalog: Catalog, models_dir: Path, hardware: Hardware | None) -> list[ModelRow]:
    """Every catalog entry with its install state and, once known, whether it fits here."""
    recommended = default_model(catalog, hardware).id if hardware is not None else None
    rows = []
    for entry in catalog:
        installed = read_installed(entry.id, models_dir) is not None
        partial = not installed and has_partial_download(entry.id, models_dir)
        ok, reason = fits(entry, hardware) if hardware is not None else (None, "checking…")
        rows.append(ModelRow(entry, installed, partial, ok, reason, entry.id == recommended))
    return rows


def check_custom_pair(model_path: str, mmproj_path: str) -> ModelSpec:
    """Validate a user's GGUF + mmproj pair before it is stored; raises `InvalidModelFiles`."""
    roles = (("model", model_path), ("vision projector (mmproj)", mmproj_path))
    for role, raw in roles:
        if not raw.strip():
            raise InvalidModelFiles(f"Choose the {role} file.")
        path = Path(raw.strip()).expanduser()
        if path.suffix.lower() != ".gguf":
            raise InvalidModelFiles(f"The {role} must be a .gguf file; {path.name} is not.")
    model, mmproj = (Path(raw.strip()).expanduser() for _role, raw in roles)
    if model.resolve() == mmproj.resolve():
        raise InvalidModelFiles("The model and the vision projector must be two different files.")
    return custom_model_spec(model, mmproj)


def check_prompt_text(text: str) -> str | None:
    """Why an edited prompt cannot be used (the worker fills it with str.format), or None."""
    if not text.strip():
        return "The prompt is empty. Write an instruction, or reset it to the built-in text."
    try:
        text.format(language="English", context="")
    except KeyError as exc:
        return (
            f"{{{exc.args[0]}}} is not a placeholder Captionist knows: use {{language}} and "
            "{context} only, and write {{ or }} for a literal brace."
        )
    except IndexError:
        return (
            "Empty or numbered braces such as {} are not placeholders: use {language} and "
            "{context}, and write {{ or }} for a literal brace."
        )
    except ValueError:
        return "The braces in the prompt do not pair up. Write {{ or }} for a literal brace."
    return None


def needs_first_run(db: Database) -> bool:
    """No folder in the library yet: the window shows the welcome instead of an empty list."""
    with db.read() as conn:
        return conn.execute(select(Root.id).where(Root.enabled).limit(1)).first() is None


def format_mb(megabytes: float) -> str:
    """Catalog sizes (10^6 bytes) as people read them: "546 MB", "2.8 GB"."""
    return f"{megabytes / 1000:.1f} GB" if megabytes >= 1000 else f"{megabytes:.0f} MB"


def format_bytes(count: float) -> str:
    return format_mb(count / 1e6) if count >= 1e6 else f"{count / 1e3:.0f} kB"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d} left" if hours else f"{minutes}:{secs:02d} left"
