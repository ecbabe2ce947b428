"""The packaged app's private training runtime: a Python environment in the data folder.

A PyInstaller bundle carries no torch (and has no pip), and training runs in a process of
its own anyway (`python -m models.finetune.run SPEC`, JSON lines on stdout). So the bundle
installs, when asked, a virtual environment with the training packages into
`<data>/runtime/training-<app version>-<platform>/`, with uv (shipped in the bundle; it can
also fetch a Python build where the machine has none that fits), and runs that environment's
python on the training code shipped beside the bundle's executables (`training/`: models/,
resources/, llama_cpp/ and llama.cpp's converter scripts). Nothing is installed outside
`<data>/runtime/` (uv's cache and any Python it fetches live there too, unless UV_CACHE_DIR /
UV_PYTHON_INSTALL_DIR say otherwise), and removing it frees everything.

Versions are the pins in `runtime_pins.txt` (the source install the tests ran with). The
environment is built in `<name>.partial/` and renamed when complete, with a marker file
(app version, pins digest, python, torch variant) written last: a folder without a marker
that matches this app is removed and rebuilt, never half-used. A source install never uses
any of this: it trains with its own interpreter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

PINS_FILE = Path(__file__).with_name("runtime_pins.txt")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# What the training process imports: the `finetune` extra, then what models/ needs beside
# it there (the GGUF export and check, the llama.cpp verification, the base-weights download).
REQUIREMENTS = (
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "safetensors",
    "sentencepiece",
    "num2words",
    "gguf",
    "numpy",
    "pillow",
    "psutil",
    "huggingface-hub",
    "filelock",
    "jinja2",
    "diskcache",  # llama_cpp imports it
    "typing-extensions",
)
QLORA_REQUIREMENTS = ("bitsandbytes",)
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
UV_ENV = "CAPTIONIST_UV"  # another uv (tests)
TORCH_INDEX_ENV = "CAPTIONIST_TORCH_INDEX"  # another index for torch; "none": --find-links only
MARKER = "captionist-runtime.json"
RUNTIME_PREFIX = "training-"
PARTIAL = ".partial"
DOWNLOAD_GB = {"cpu": 1.0, "mps": 1.0, "cuda": 4.0}  # about; torch's CUDA build is large
POLL_S = 0.2
OFFLINE_HINTS = (
    "dns error",
    "error sending request",
    "client error (connect)",
    "failed to fetch",
    "network is unreachable",
    "connection refused",
    "timed out",
    "failed to download",
)


def offline_message(variant: str = "cpu") -> str:
    hosts = "pypi.org and download.pytorch.org" if variant == "cpu" else "pypi.org"
    return (
        "Installing the training components needs the internet once (about "
        f"{DOWNLOAD_GB.get(variant, 1.0):.0f} GB from {hosts}); nothing was changed."
    )


def packaged() -> bool:
    """Is this the double-click app (a PyInstaller bundle)? The one place that decides:
    tests monkeypatch it to see the packaged app's screens without a bundle."""
    return bool(getattr(sys, "frozen", False))


class RuntimeInstallError(Exception):
    """Installing or removing failed; the message is for the user."""


class InstallCancelled(Exception):
    pass


@dataclass(frozen=True)
class RuntimeStatus:
    folder: Path
    ready: bool
    python: Path | None
    size_bytes: int = 0
    torch_variant: str | None = None  # of the installed runtime
    stale: list[Path] = field(default_factory=list)  # other versions, partial installs

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "ready": self.ready,
            "python": str(self.python) if self.python else None,
            "size_bytes": self.size_bytes,
            "torch_variant": self.torch_variant,
            "stale": [str(p) for p in self.stale],
        }


# -- what this app wants --------------------------------------------------------------------
def app_version() -> str:
    try:
        return metadata.version("captionist")
    except metadata.PackageNotFoundError:
        return "dev"


def platform_tag() -> str:
    machine = platform.machine().lower() or "unknown"
    return f"{sys.platform}-{machine}"


def pins_text() -> str:
    return PINS_FILE.read_text(encoding="utf-8")


def pins() -> dict[str, str]:
    """{name: version} from runtime_pins.txt."""
    found = {}
    for line in pins_text().splitlines():
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)==([^\s#]+)\s*", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def python_version() -> str:
    """The Python minor version the pins were made with ("3.11")."""
    match = re.search(r"^# python (\d+\.\d+)\s*$", pins_text(), re.MULTILINE)
    return match.group(1) if match else f"{sys.version_info.major}.{sys.version_info.minor}"


def pins_digest() -> str:
    return hashlib.sha256(pins_text().encode("utf-8")).hexdigest()[:16]


def torch_variant() -> str:
    """cuda where an NVIDIA GPU is present, mps on Apple Silicon, else cpu."""
    from models.hardware import nvidia_gpu

    if nvidia_gpu() is not None:
        return "cuda"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


def download_gb(variant: str | None = None) -> float:
    return DOWNLOAD_GB.get(variant or torch_variant(), 1.0)


def wanted_marker(variant: str) -> dict[str, Any]:
    return {
        "format": 1,
        "app_version": app_version(),
        "platform": platform_tag(),
        "pins": pins_digest(),
        "python": python_version(),
        "torch_variant": variant,
    }


# -- where it lives -------------------------------------------------------------------------
def runtimes_dir(data_root: Path) -> Path:
    return data_root / "runtime"


def runtime_dir(data_root: Path) -> Path:
    return runtimes_dir(data_root) / f"{RUNTIME_PREFIX}{app_version()}-{platform_tag()}"


def python_in(folder: Path) -> Path:
    if os.name == "nt":
        return folder / "Scripts" / "python.exe"
    return folder / "bin" / "python"


def read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _matches(marker: dict[str, Any] | None) -> bool:
    if marker is None:
        return False
    wanted = wanted_marker(str(marker.get("torch_variant", "")))
    keys = ("format", "app_version", "platform", "pins", "python")
    return all(marker.get(k) == wanted[k] for k in keys)


def size_of(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def status(data_root: Path, *, measure: bool = True) -> RuntimeStatus:
    """The runtime for this app version, if complete; what else is there (to remove)."""
    folder = runtime_dir(data_root)
    marker = read_marker(folder)
    ready = _matches(marker) and python_in(folder).exists()
    parent = runtimes_dir(data_root)
    stale = []
    if parent.is_dir():
        for child in sorted(parent.iterdir()):
            if child.name.startswith(RUNTIME_PREFIX) and not (child == folder and ready):
                stale.append(child)
    size = size_of(parent) if measure and parent.is_dir() else 0
    return RuntimeStatus(
        folder=folder,
        ready=ready,
        python=python_in(folder) if ready else None,
        size_bytes=size,
        torch_variant=str(marker.get("torch_variant")) if ready and marker else None,
        stale=stale,
    )


def ready_python(data_root: Path) -> Path | None:
    return status(data_root, measure=False).python


def training_code_dir() -> Path:
    """Where `models/` is importable as source: the bundle's `training/` folder (packaging/
    captionist.spec puts it there), else this checkout."""
    if packaged():
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "training"
    return PROJECT_ROOT


def clean_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a program that is not part of the bundle: the library path
    PyInstaller's bootloader set for the bundle's own libraries is put back as it was."""
    env = dict(os.environ if base is None else base)
    for name in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
        original = env.pop(name + "_ORIG", None)
        if packaged() or original is not None:
            env.pop(name, None)
            if original:
                env[name] = original
    return env


def training_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """For `RUNTIME_PYTHON -m models.finetune.run`: the shipped training code on the path,
    llama.cpp's converter scripts from the bundle, and no user site-packages."""
    env = clean_environment(base)
    code = training_code_dir()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code), env.get("PYTHONPATH", "")) if p)
    env["PYTHONNOUSERSITE"] = "1"
    tools = code / "llama.cpp-tools"
    if tools.is_dir():
        env.setdefault("CAPTIONIST_LLAMA_TOOLS_DIR", str(tools))
    return env


def uv_binary() -> Path | None:
    """$CAPTIONIST_UV, else the bundle's uv, else the one installed with the `packaging`
    extra, else PATH's."""
    if os.environ.get(UV_ENV):
        return Path(os.environ[UV_ENV])
    name = "uv.exe" if os.name == "nt" else "uv"
    if packaged():
        shipped = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / name
        return shipped if shipped.is_file() else None
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return beside
    found = shutil.which("uv")
    return Path(found) if found else None


# -- installing -----------------------------------------------------------------------------
Stage = Callable[[str], None]


def install(
    data_root: Path,
    *,
    on_stage: Stage = lambda _text: None,
    on_line: Stage = lambda _text: None,
    should_cancel: Callable[[], bool] = lambda: False,
    uv: Path | None = None,
    variant: str | None = None,
) -> RuntimeStatus:
    """Build the runtime (a no-op when it is there). Raises RuntimeInstallError with a sentence
    for the user, or InstallCancelled; either way nothing is left half-made."""
    current = status(data_root, measure=False)
    if current.ready:
        for old in current.stale:
            shutil.rmtree(old, ignore_errors=True)
        return status(data_root)
    uv = uv or uv_binary()
    if uv is None:
        raise RuntimeInstallError(
            "This Captionist has no installer for the training components (uv is missing "
            "from the app); reinstall the app, or fine-tune from the source install."
        )
    variant = variant or torch_variant()
    parent = runtimes_dir(data_root)
    parent.mkdir(parents=True, exist_ok=True)
    for old in current.stale:  # other app versions, a marker-less or partial install
        on_stage(f"Removing an unusable runtime ({old.name})")
        shutil.rmtree(old, ignore_errors=True)
    folder = current.folder
    partial = folder.with_name(folder.name + PARTIAL)
    env = clean_environment()
    own_cache = "UV_CACHE_DIR" not in env
    env.setdefault("UV_CACHE_DIR", str(parent / "uv-cache"))
    env.setdefault("UV_PYTHON_INSTALL_DIR", str(parent / "python"))
    env["UV_NO_PROGRESS"] = "1"
    env.pop("VIRTUAL_ENV", None)
    runner = _Runner(should_cancel, on_line, variant)
    try:
        python = python_version()
        on_stage(f"Creating the environment (Python {python})")
        runner.run(
            [str(uv), "venv", "--relocatable", "--no-project", "--python", python,
             "--python-preference", "system", str(partial)], env,
        )  # fmt: skip
        target = ["--python", str(python_in(partial))]
        torch_pin = pins().get("torch")
        if variant == "cpu" and sys.platform != "darwin":
            on_stage("Downloading torch (CPU build, about 200 MB)")
            runner.run(
                [str(uv), "pip", "install", *target, "--no-deps",
                 f"torch=={torch_pin}" if torch_pin else "torch", *_torch_index()], env,
            )  # fmt: skip
        on_stage("Downloading and installing the training packages")
        wanted = [*REQUIREMENTS, *(QLORA_REQUIREMENTS if variant == "cuda" else ())]
        # Compiled now, as pip would: else the first training run compiles transformers' and
        # torch's thousands of modules on import (tens of seconds).
        runner.run(
            [str(uv), "pip", "install", *target, "--compile-bytecode",
             "--constraint", str(PINS_FILE), *wanted], env,
        )  # fmt: skip
        on_stage("Checking the environment")
        runner.run([str(python_in(partial)), "-c", "import torch, transformers, peft"], env)
        (partial / MARKER).write_text(json.dumps(wanted_marker(variant), indent=1), "utf-8")
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        if own_cache:
            shutil.rmtree(parent / "uv-cache", ignore_errors=True)
    return status(data_root)


def _torch_index() -> list[str]:
    index = os.environ.get(TORCH_INDEX_ENV, CPU_TORCH_INDEX)
    return ["--no-index"] if index.lower() == "none" else ["--index-url", index]


def remove(data_root: Path) -> int:
    """Remove every training runtime (and uv's cache and Pythons there); bytes freed.
    Refused while a fine-tune of this library runs (it holds `finetune.lock`)."""
    from filelock import FileLock, Timeout

    parent = runtimes_dir(data_root)
    if not parent.exists():
        return 0
    lock = FileLock(str(data_root / "finetune.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RuntimeInstallError(
            "A fine-tune is running with the training components; remove them when it ends."
        ) from None
    try:
        freed = size_of(parent)
        shutil.rmtree(parent, ignore_errors=True)
    finally:
        lock.release()
    if parent.exists():
        left = size_of(parent)
        raise RuntimeInstallError(
            f"Could not remove everything in {parent} ({left / 1e9:.1f} GB left): is a "
            "fine-tune running? Close it and try again."
        )
    return freed


class _Runner:
    """Runs one command of the install, its output line by line, killable on cancel."""

    def __init__(self, should_cancel: Callable[[], bool], on_line: Stage, variant: str) -> None:
        self.should_cancel, self.on_line, self.variant = should_cancel, on_line, variant

    def run(self, argv: Sequence[str], env: dict[str, str]) -> None:
        if self.should_cancel():
            raise InstallCancelled()
        try:
            process = subprocess.Popen(
                list(argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=env,
                **_own_group(),
            )
        except OSError as exc:
            raise RuntimeInstallError(f"The installer could not start ({exc}).") from exc
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        stdout = process.stdout

        def read() -> None:
            for line in stdout:
                lines.put(line.rstrip())
            lines.put(None)

        reader = threading.Thread(target=read, name="runtime-install", daemon=True)
        reader.start()
        tail: list[str] = []
        while True:
            if self.should_cancel():
                _kill_tree(process)
                process.wait()
                reader.join(5)
                raise InstallCancelled()
            try:
                line = lines.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if line is None:
                break
            if line.strip():
                tail = [*tail[-19:], line]
                self.on_line(line)
        code = process.wait()
        reader.join()
        if code != 0:
            raise RuntimeInstallError(self._failure(argv, code, tail))

    def _failure(self, argv: Sequence[str], code: int, tail: list[str]) -> str:
        text = "\n".join(tail).lower()
        if any(hint in text for hint in OFFLINE_HINTS):
            return offline_message(self.variant)
        last = next((t.strip() for t in reversed(tail) if t.strip()), "")
        what = Path(argv[0]).name + (" " + argv[1] if len(argv) > 1 else "")
        return (
            f"Installing the training components failed ({what}, exit code {code})"
            + (f": {last}" if last else "")
            + ". Nothing was changed."
        )


def _own_group() -> dict[str, Any]:
    """uv in a process group of its own, so that Cancel stops it with its children."""
    if os.name == "nt":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    return {"start_new_session": True}


def _kill_tree(process: subprocess.Popen[str]) -> None:
    if os.name == "nt":
        subprocess.run(
            ["taskkill", "/T", "/F", "/PID", str(process.pid)], capture_output=True, check=False
        )
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
