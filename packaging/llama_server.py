#!/usr/bin/env python3
"""llama.cpp's `llama-server`, built once from the llama-cpp-python sdist and cached.

The server tests (tests/servers) run a real llama-server of the *same* llama.cpp as the
installed binding: its sources ship in the llama-cpp-python sdist (`tools/server`), which
models/finetune/llama_tools.py already fetches for the LoRA converter. The build (~7
minutes on 2 cores) goes into a cache keyed by the llama-cpp-python version,
`$XDG_CACHE_HOME/captionist-ci/llama-server-<version>/llama-server` (the CI keeps
~/.cache/captionist-ci between runs, as it keeps the app bundle). Static libraries, so
the one binary is self-contained; built for this CPU (ggml's native flags), so a
`cpu-stamp` beside it makes another CPU rebuild. Standard library only (set-up runs it).

    python packaging/llama_server.py            # build if missing, print the binary
    python packaging/llama_server.py --check    # exit 1 if not built
    python packaging/llama_server.py --sdist llama_cpp_python-0.3.36.tar.gz
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINARY_ENV = "CAPTIONIST_LLAMA_SERVER"  # a llama-server to use instead of the cached build
REQUIRE_ENV = "CAPTIONIST_REQUIRE_LLAMA_SERVER"  # CI: a missing binary fails, never skips
CMAKE_FLAGS = (
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DCMAKE_BUILD_TYPE=Release",
    # One relocatable binary (no shared libraries whose RPATH points into the build).
    "-DBUILD_SHARED_LIBS=OFF",
    # No network during the build (the web UI would be downloaded) and no OpenSSL:
    # the tests talk plain HTTP on loopback.
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
)
BUILD_TIMEOUT_S = 3600
EXE = "llama-server.exe" if os.name == "nt" else "llama-server"


class BuildError(RuntimeError):
    """llama-server could not be built; the message says why."""


def cache_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "captionist-ci"


def installed_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        raise BuildError("llama-cpp-python is not installed in this environment") from None


def binary_path(version: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / f"llama-server-{version}" / EXE


def cpu_stamp() -> str:
    """The CPU features the build may use (ggml builds for the native CPU): a cache
    restored on a machine without them must rebuild, not die of SIGILL mid-test."""
    import hashlib
    import platform

    flags = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags += " ".join(sorted(line.split(":", 1)[1].split()))
                break
    except OSError:
        flags += platform.processor()
    return hashlib.sha256(flags.encode()).hexdigest()[:16]


def _stamp(binary: Path) -> Path:
    return binary.with_name("cpu-stamp")


def _runs(binary: Path) -> bool:
    """A cached binary built for another CPU (native flags) must not be used."""
    try:
        result = subprocess.run(
            [str(binary), "--version"], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def find_server(version: str | None = None, root: Path | None = None) -> Path | None:
    """The binary if it is there and runs (nothing is built)."""
    if os.environ.get(BINARY_ENV):
        given = Path(os.environ[BINARY_ENV])
        return given if given.is_file() and _runs(given) else None
    binary = binary_path(version or installed_version(), root)
    try:
        same_cpu = _stamp(binary).read_text().strip() == cpu_stamp()
    except OSError:
        same_cpu = False
    return binary if same_cpu and binary.is_file() and _runs(binary) else None


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _sdist(version: str, work: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    sys.path.insert(0, str(ROOT))
    from models.finetune import llama_tools

    try:
        return llama_tools._download(version, llama_tools.default_root(), work, _log)
    except llama_tools.ToolsError as exc:
        raise BuildError(str(exc)) from exc


def _unpack(sdist: Path, version: str, dest: Path) -> Path:
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    try:
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BuildError(f"cannot unpack {sdist.name} ({exc})") from exc
    source = dest / prefix
    if not (source / "tools" / "server" / "CMakeLists.txt").is_file():
        raise BuildError(f"{sdist.name} holds no llama.cpp server sources (tools/server)")
    return source


def _run(command: list[str], log: Path) -> None:
    _log("$ " + " ".join(command))
    with log.open("a") as out:
        try:
            code = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S
            ).returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuildError(f"{command[0]} could not run ({exc}); log: {log}") from exc
    if code:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        what = " ".join(command[:3])
        raise BuildError(f"{what} failed (exit {code}); log: {log}\n" + "\n".join(tail))


def build_server(
    version: str | None = None, root: Path | None = None, *, sdist: Path | None = None
) -> Path:
    """Build llama-server for `version` into the cache (a no-op when it is there)."""
    version = version or installed_version()
    root = root or cache_root()
    found = find_server(version, root)
    if found is not None:
        return found
    if shutil.which("cmake") is None:
        raise BuildError("cmake is not installed: it is needed to build llama-server")
    target = binary_path(version, root)
    work = root / f".llama-server-{version}.work"  # kept on failure: a retry resumes
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    source = work / "src"
    if not (source / "tools" / "server" / "CMakeLists.txt").is_file():
        _log(f"Building llama-server {version} (~7 minutes on 2 cores) in {work}")
        with tempfile.TemporaryDirectory(dir=work, prefix=".fetch-") as tmp:
            unpacked = _unpack(_sdist(version, Path(tmp), sdist), version, Path(tmp))
            if source.exists():
                shutil.rmtree(source)
            unpacked.rename(source)
    build = work / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    jobs = os.environ.get("CAPTIONIST_BUILD_JOBS", "2")
    _run(["cmake", "-S", str(source), "-B", str(build), *generator, *CMAKE_FLAGS], log)
    _run(["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs], log)
    built = build / "bin" / EXE
    if not built.is_file():
        raise BuildError(f"the build finished without {built}; log: {log}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_suffix(".partial")
    shutil.copy2(built, staged)
    staged.replace(target)
    _stamp(target).write_text(cpu_stamp() + "\n")
    if not _runs(target):
        raise BuildError(f"the built {target} does not run (`--version` failed)")
    shutil.rmtree(work, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--version", help="llama-cpp-python version (default: the installed)")
    parser.add_argument("--root", type=Path, help="cache folder (default: captionist-ci)")
    parser.add_argument("--sdist", type=Path, help="use this llama-cpp-python sdist")
    parser.add_argument("--check", action="store_true", help="do not build; exit 1 if missing")
    args = parser.parse_args(argv)
    try:
        if args.check:
            found = find_server(args.version, args.root)
            if found is None:
                _log("llama-server is not built yet")
                return 1
        else:
            found = build_server(args.version, args.root, sdist=args.sdist)
    except BuildError as exc:
        _log(f"error: {exc}")
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
