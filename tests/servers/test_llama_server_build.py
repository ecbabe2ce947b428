"""packaging/llama_server.py: where the cached llama-server lives and what it says when
it cannot build (the build itself runs once in set-up, ~7 minutes: not repeated here)."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.servers.conftest import ROOT, _llama_server_module, llama_server_binary

SCRIPT = ROOT / "packaging" / "llama_server.py"


@pytest.fixture
def module() -> Any:
    return _llama_server_module()


def test_the_cache_is_keyed_by_version_under_captionist_ci(
    module: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert (
        module.binary_path("1.2.3")
        == tmp_path / "captionist-ci" / "llama-server-1.2.3" / "llama-server"
    )


def test_check_says_when_it_is_not_built(tmp_path: Path) -> None:
    checked = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--root", str(tmp_path), "--version", "0.0.1"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 1 and "not built" in checked.stderr


def test_an_sdist_without_the_server_sources_is_a_clear_error(module: Any, tmp_path: Path) -> None:
    sdist = tmp_path / "llama_cpp_python-0.0.1.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        data = b"cmake_minimum_required(VERSION 3.14)\n"
        info = tarfile.TarInfo("llama_cpp_python-0.0.1/vendor/llama.cpp/CMakeLists.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(module.BuildError, match="no llama.cpp server sources"):
        module.build_server("0.0.1", tmp_path / "cache", sdist=sdist)


def test_the_built_binary_is_found_and_runs(module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = llama_server_binary()  # skips (or fails on CI) when not built
    assert binary.is_file()
    monkeypatch.setenv(module.BINARY_ENV, str(binary))
    assert module.find_server() == binary
    monkeypatch.setenv(module.BINARY_ENV, str(binary.parent / "missing"))
    assert module.find_server() is None


def test_a_binary_built_for_another_cpu_is_not_used(
    module: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(module.BINARY_ENV, raising=False)
    binary = module.binary_path("9.9.9", tmp_path)
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\nexit 0\n")  # stands in for a llama-server that runs
    binary.chmod(0o755)
    assert module.find_server("9.9.9", tmp_path) is None  # no stamp: built elsewhere
    (binary.parent / "cpu-stamp").write_text(module.cpu_stamp() + "\n")
    assert module.find_server("9.9.9", tmp_path) == binary
    (binary.parent / "cpu-stamp").write_text("another-cpu\n")
    assert module.find_server("9.9.9", tmp_path) is None
