#!/usr/bin/env python3
"""One-step set-up for a fresh machine: the two commands in the README.

    python3 packaging/setup_env.py run    # install into .venv and start Captionist
    python3 packaging/setup_env.py test   # install with the dev extra and run all tests

It creates a virtual environment in `.venv`, picks the llama.cpp build for this
machine (CUDA when `nvcc` is on PATH, Metal on Apple Silicon, else CPU; an explicit
CMAKE_ARGS wins), installs the project in editable mode and runs it. Both commands
install the fine-tuning extra: torch's CPU build from PyTorch's CPU index unless an
NVIDIA GPU is present (then the default CUDA build and the qlora extra), and llama.cpp's
adapter converter, fetched once so that training works offline later. `test` also
builds llama.cpp's llama-server once (packaging/llama_server.py, ~7 minutes, cached in
~/.cache/captionist-ci) for the inference-server tests. Standard library only: it must
work before anything is installed.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
PYTEST_NO_TESTS = 5
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
# The training packages at the versions the tests ran (models/finetune/runtime_pins.txt,
# which the packaged app's training runtime installs too): constraints, not requirements.
PINS = str(ROOT / "models" / "finetune" / "runtime_pins.txt")


def venv_python() -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return VENV / scripts / ("python.exe" if os.name == "nt" else "python")


def llama_build_args() -> tuple[str, str]:
    """(CMAKE_ARGS, human description) for llama-cpp-python's source build."""
    if os.environ.get("CMAKE_ARGS"):
        return os.environ["CMAKE_ARGS"], "as given in CMAKE_ARGS"
    if shutil.which("nvcc"):
        if nvidia_gpu_present():
            return "-DGGML_CUDA=on", "CUDA (nvcc and an NVIDIA GPU found)"
        return "", "CPU (nvcc found, but no NVIDIA GPU is visible)"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "-DGGML_METAL=on", "Metal (Apple Silicon)"
    return "", "CPU"


def nvidia_gpu_present() -> bool:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    listed = subprocess.run([smi, "-L"], capture_output=True, text=True, check=False)
    return listed.returncode == 0 and "GPU" in listed.stdout


def create_venv() -> None:
    if venv_python().exists():
        return
    print(f"Creating a virtual environment in {VENV} …", flush=True)
    try:
        venv.create(VENV, with_pip=True)
    except Exception as exc:  # noqa: BLE001 - we explain and stop
        sys.exit(
            f"Could not create a virtual environment ({exc}).\n"
            "On Debian/Ubuntu install it first: sudo apt install python3-venv"
        )


def pip(*args: str, env: dict[str, str] | None = None) -> None:
    cmd = [str(venv_python()), "-m", "pip", "--disable-pip-version-check", *args]
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)


def gpu_build_is_missing() -> bool:
    code = "import llama_cpp, sys; sys.exit(0 if llama_cpp.llama_supports_gpu_offload() else 1)"
    return subprocess.run([str(venv_python()), "-c", code], check=False).returncode != 0


def training_extras() -> str:
    """The fine-tuning extra, with 4-bit QLoRA (bitsandbytes) when a CUDA GPU is there."""
    return "finetune,qlora" if nvidia_gpu_present() else "finetune"


def install_torch() -> None:
    """torch before the project, so the extra finds it installed. Without an NVIDIA GPU it
    comes from PyTorch's CPU index only: PyPI's Linux wheel is the CUDA build with ~3 GB of
    CUDA libraries. (macOS wheels on PyPI are CPU/Metal builds already.)"""
    if nvidia_gpu_present() or sys.platform == "darwin":
        return
    print("Installing torch (CPU build) for fine-tuning …", flush=True)
    # Only that index (and pip's configured find-links) may offer torch here; torch's own
    # dependencies come with the project install below.
    cpu_only = dict(os.environ, PIP_EXTRA_INDEX_URL=CPU_TORCH_INDEX)
    pip("install", "--no-deps", "torch", "-c", PINS, "--index-url", CPU_TORCH_INDEX, env=cpu_only)


def fetch_adapter_converter() -> None:
    """llama.cpp's convert_lora_to_gguf.py (from the llama-cpp-python sdist), fetched now so
    that exporting a fine-tuned adapter needs no network later. Not fatal when offline."""
    code = [str(venv_python()), "-m", "models.finetune.llama_tools"]
    if subprocess.run(code, cwd=ROOT, check=False, stdout=subprocess.DEVNULL).returncode:
        print(
            "Could not fetch llama.cpp's adapter converter now (offline?); fine-tuning "
            "fetches it when it first exports an adapter.",
            file=sys.stderr,
            flush=True,
        )


def build_llama_server() -> None:
    """llama.cpp's llama-server, which the server tests run (tests/servers): built once
    from the llama-cpp-python sdist into ~/.cache/captionist-ci (packaging/llama_server.py).
    Not fatal here: without it those tests skip with the reason, or fail when
    CAPTIONIST_REQUIRE_LLAMA_SERVER=1 (the CI)."""
    code = [str(venv_python()), str(ROOT / "packaging" / "llama_server.py")]
    if subprocess.run(code, cwd=ROOT, check=False, stdout=subprocess.DEVNULL).returncode:
        print(
            "Could not build llama-server (see the error above); the inference-server "
            "tests cannot run without it.",
            file=sys.stderr,
            flush=True,
        )


def install(extras: str) -> None:
    """The project with `extras`; the training packages at the versions the packaged app's
    training runtime pins (one list, so the source install trains with what was tested)."""
    install_torch()
    cmake_args, build = llama_build_args()
    print(
        f"Installing Captionist ({extras}); llama.cpp build: {build}. The first "
        "install compiles llama.cpp, which takes several minutes.",
        flush=True,
    )
    pip("install", "--upgrade", "pip", "-q")
    if not cmake_args:
        pip("install", "-e", f".[{extras}]", "-c", PINS)
        return
    gpu_env = dict(os.environ, CMAKE_ARGS=cmake_args)
    try:
        pip("install", "-e", f".[{extras}]", "-c", PINS, env=gpu_env)
        if gpu_build_is_missing():
            # pip reused a cached CPU wheel of llama-cpp-python: rebuild it for the GPU.
            pip(
                "install",
                "--force-reinstall",
                "--no-deps",
                "--no-cache-dir",
                "llama-cpp-python",
                env=gpu_env,
            )
    except subprocess.CalledProcessError:
        print(
            "The GPU build of llama.cpp failed; installing the CPU build instead. "
            "Captioning works, only slower. Details are in the pip output above.",
            file=sys.stderr,
            flush=True,
        )
        pip("install", "-e", f".[{extras}]", "-c", PINS)


def run_app(args: list[str]) -> int:
    return subprocess.call([str(venv_python()), str(ROOT / "main.py"), *args], cwd=ROOT)


def run_tests(args: list[str]) -> int:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    code = subprocess.call([str(venv_python()), "-m", "pytest", *args], cwd=ROOT, env=env)
    if code == PYTEST_NO_TESTS:
        print("pytest collected no tests: treating that as a failure.", file=sys.stderr)
        return 1
    return code


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        return 2
    if sys.version_info < (3, 11):  # noqa: UP036 - run by whatever python3 the user has
        sys.exit("Captionist needs Python 3.11 or newer.")
    command, rest = sys.argv[1], sys.argv[2:]
    create_venv()
    if command == "run":
        install(f"heic,{training_extras()}")
        fetch_adapter_converter()
        return run_app(rest)
    # packaging: the tests build the double-click app once (tests/test_bundle_finetune.py).
    install(f"dev,heic,packaging,{training_extras()}")
    fetch_adapter_converter()
    build_llama_server()
    return run_tests(rest)


if __name__ == "__main__":
    sys.exit(main())
