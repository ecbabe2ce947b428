"""llama.cpp's converter scripts, fetched from the llama-cpp-python sdist into a cache.

The unpacking is checked on a small sdist built here with the real layout; the pip step is
checked failing the way it fails offline (no index reachable), which must be a clear error.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from models.finetune import llama_tools
from models.finetune.llama_tools import ToolsError, converter_env, ensure_tools, find_tools

VERSION = "9.9.9"


def fake_sdist(root: Path, version: str = VERSION) -> Path:
    """An sdist with the real layout: the converter, gguf-py, and much that is not needed."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"llama_cpp_python-{version}.tar.gz"
    prefix = f"llama_cpp_python-{version}/"
    files = {
        "vendor/llama.cpp/convert_lora_to_gguf.py": b"print('lora')\n",
        "vendor/llama.cpp/convert_hf_to_gguf.py": b"print('hf')\n",
        "vendor/llama.cpp/conversion/__init__.py": b"",
        "vendor/llama.cpp/gguf-py/gguf/__init__.py": b"",
        "vendor/llama.cpp/LICENSE": b"MIT\n",
        "vendor/llama.cpp/ggml/src/ggml.c": b"int main;\n",
        "llama_cpp/__init__.py": b"",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_scripts_are_unpacked_once_and_nothing_else(tmp_path: Path) -> None:
    sdist = fake_sdist(tmp_path)
    assert find_tools(VERSION, tmp_path) is None
    messages: list[str] = []
    tools = ensure_tools(VERSION, tmp_path, log=messages.append)
    assert tools == tmp_path / f"llama_cpp_python-{VERSION}" / "vendor" / "llama.cpp"
    assert (tools / "convert_lora_to_gguf.py").read_text() == "print('lora')\n"
    assert (tools / "gguf-py" / "gguf" / "__init__.py").is_file()
    assert not (tools / "ggml").exists()
    assert not (tmp_path / f"llama_cpp_python-{VERSION}" / "llama_cpp").exists()
    assert find_tools(VERSION, tmp_path) == tools
    sdist.unlink()
    assert ensure_tools(VERSION, tmp_path, log=messages.append) == tools  # no fetch again
    assert len(messages) == 1
    assert not list(tmp_path.glob(".fetch-*"))  # the work folder is gone


def test_a_damaged_download_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / f"llama_cpp_python-{VERSION}.tar.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(ToolsError, match="is damaged"):
        ensure_tools(VERSION, tmp_path, log=lambda _: None)
    assert find_tools(VERSION, tmp_path) is None


def test_offline_the_error_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As pip fails with no reachable index (and no local wheel folder to fall back on).
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nowhere"))
    with pytest.raises(ToolsError, match="could not download llama.cpp's converter") as error:
        ensure_tools(VERSION, tmp_path / "tools", log=lambda _: None)
    assert "Connect to the internet" in str(error.value)
    assert not list((tmp_path / "tools").glob("llama_cpp_python-*"))


def test_the_default_cache_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(llama_tools.ROOT_ENV, str(tmp_path))
    assert llama_tools.default_root() == tmp_path
    monkeypatch.delenv(llama_tools.ROOT_ENV)
    assert llama_tools.default_root().name == "llama.cpp-tools"
    assert llama_tools.installed_version()  # the llama_cpp the scripts must match


def test_the_converter_runs_with_its_own_gguf_package(tmp_path: Path) -> None:
    env = converter_env(tmp_path)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path / "gguf-py")
    assert "NO_LOCAL_GGUF" not in env
