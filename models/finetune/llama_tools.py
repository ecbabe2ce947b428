"""llama.cpp's own conversion scripts, fetched on demand (never copied into this repo).

The adapter export runs `convert_lora_to_gguf.py`, which ships in llama.cpp's source, and
llama.cpp's source ships inside the llama-cpp-python sdist on PyPI. So the scripts come from
the sdist of the *installed* llama-cpp-python version (its converter writes what its llama.cpp
loads), fetched with pip and unpacked once into a cache: inside the virtual environment when
it is writable (the scripts belong to that llama_cpp build), else the user cache folder.
`packaging/setup_env.py` fetches them at set-up time when the training extra is installed,
so training works offline later. Standard library only (the fixture script uses it too).

    python -m models.finetune.llama_tools            # fetch if missing, print the folder
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "llama-cpp-python"
ROOT_ENV = "CAPTIONIST_LLAMA_TOOLS_DIR"  # overrides where the scripts are kept
WANTED = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")
PIP_TIMEOUT_S = 900


class ToolsError(RuntimeError):
    """The converter scripts are missing and could not be fetched; the message says why."""


def installed_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ToolsError("llama-cpp-python is not installed in this environment") from None


def default_root() -> Path:
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV])
    in_venv = Path(sys.prefix) / "share" / "captionist" / "llama.cpp-tools"
    if sys.prefix != sys.base_prefix and os.access(sys.prefix, os.W_OK):
        return in_venv
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "captionist" / "llama.cpp-tools"


def scripts_dir(version: str, root: Path) -> Path:
    """`vendor/llama.cpp` of the unpacked sdist (the layout the sdist itself has)."""
    return root / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"


def find_tools(version: str | None = None, root: Path | None = None) -> Path | None:
    """The scripts folder if it is already there (nothing is fetched)."""
    folder = scripts_dir(version or installed_version(), root or default_root())
    complete = (folder / "convert_lora_to_gguf.py").is_file() and (folder / "gguf-py").is_dir()
    return folder if complete else None


def ensure_tools(
    version: str | None = None,
    root: Path | None = None,
    *,
    log: Callable[[str], None] = lambda message: print(message, file=sys.stderr, flush=True),
) -> Path:
    """The scripts folder, fetching the sdist with pip first if it is missing."""
    version = version or installed_version()
    root = root or default_root()
    found = find_tools(version, root)
    if found is not None:
        return found
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as work:
            sdist = _download(version, root, Path(work), log)
            _unpack(sdist, version, root, Path(work), log)
    except OSError as exc:
        raise ToolsError(f"cannot store llama.cpp's converter in {root}: {exc}") from exc
    found = find_tools(version, root)
    if found is None:
        raise ToolsError(f"the llama-cpp-python {version} source has no convert_lora_to_gguf.py")
    return found


def _download(version: str, root: Path, work: Path, log: Callable[[str], None]) -> Path:
    cached = root / f"llama_cpp_python-{version}.tar.gz"  # left by an older layout: reuse
    if cached.is_file():
        return cached
    log(f"Fetching llama.cpp's converter (the llama-cpp-python {version} source) with pip …")
    command = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
        "--no-binary", ":all:", f"{DISTRIBUTION}=={version}", "-d", str(work),
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolsError(f"pip could not be run to fetch llama.cpp's converter ({exc})") from exc
    sdists = sorted(work.glob("llama_cpp_python-*.tar.gz"))
    if result.returncode != 0 or not sdists:
        reason = _last_line(result.stderr) or _last_line(result.stdout) or "no file"
        raise ToolsError(
            f"could not download llama.cpp's converter (llama-cpp-python {version} source "
            f"from PyPI): {reason}. Connect to the internet and try again; once fetched it "
            "is kept for offline use."
        )
    return sdists[0]


def _unpack(sdist: Path, version: str, root: Path, work: Path, log: Callable[[str], None]) -> None:
    """Extract only the conversion scripts, into a temporary folder renamed into place."""
    log(f"Unpacking the converter scripts from {sdist.name}")
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    staging = work / "unpacked"
    try:
        with tarfile.open(sdist) as tar:
            members = [
                m
                for m in tar.getmembers()
                if m.name.startswith(prefix) and m.name[len(prefix) :].startswith(WANTED)
            ]
            tar.extractall(staging, members=members, filter="data")
    except (tarfile.TarError, EOFError) as exc:
        raise ToolsError(f"the downloaded {sdist.name} is damaged ({exc}); try again") from exc
    unpacked = staging / f"llama_cpp_python-{version}"
    target = root / f"llama_cpp_python-{version}"
    if not (unpacked / "vendor" / "llama.cpp" / "convert_lora_to_gguf.py").is_file():
        raise ToolsError(f"{sdist.name} holds no convert_lora_to_gguf.py")
    if target.exists():  # an incomplete earlier attempt
        shutil.rmtree(target)
    unpacked.rename(target)


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def converter_env(tools: Path) -> dict[str, str]:
    """Environment for running the scripts: their own gguf-py first on the path (it must
    match the converter; the PyPI `gguf` may be older or newer)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(tools / "gguf-py"), env.get("PYTHONPATH", "")) if p
    )
    env.pop("NO_LOCAL_GGUF", None)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="keep the scripts here")
    parser.add_argument("--version", help="llama-cpp-python version (default: the installed)")
    parser.add_argument("--check", action="store_true", help="do not fetch; exit 1 if missing")
    args = parser.parse_args(argv)
    try:
        if args.check:
            found = find_tools(args.version, args.root)
            if found is None:
                print("llama.cpp's converter scripts are not fetched yet", file=sys.stderr)
                return 1
        else:
            found = ensure_tools(args.version, args.root)
    except ToolsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
