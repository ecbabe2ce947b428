"""The packaged app's training runtime (models/finetune/runtime.py), with a stand-in uv:
where it goes, when it counts as installed, what install leaves behind when it fails or is
cancelled (nothing), what remove frees. The real install, from the bundle, is
tests/test_bundle_finetune.py."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from models.finetune import runtime

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the stand-in uv is a shell script")
FAKE_UV = Path(__file__).with_name("fake_uv.py")


@pytest.fixture
def uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "uv"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_UV}" "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    for name in ("FAKE_UV_FAIL", "FAKE_UV_SLEEP", "UV_CACHE_DIR", "UV_PYTHON_INSTALL_DIR"):
        monkeypatch.delenv(name, raising=False)
    return script


def install(root: Path, uv: Path, **kw):  # type: ignore[no-untyped-def]
    stages: list[str] = []
    lines: list[str] = []
    state = runtime.install(
        root, on_stage=stages.append, on_line=lines.append, uv=uv, variant="cpu", **kw
    )
    return state, stages, lines


def test_install_builds_the_runtime_with_a_marker_and_the_pins(tmp_path: Path, uv: Path) -> None:
    root = tmp_path / "data"
    assert not runtime.status(root).ready and runtime.ready_python(root) is None
    state, stages, lines = install(root, uv)
    assert state.ready and state.python == runtime.python_in(state.folder)
    assert (
        state.folder
        == root / "runtime" / f"training-{runtime.app_version()}-{runtime.platform_tag()}"
    )
    assert state.torch_variant == "cpu" and state.size_bytes > 0
    assert [s.split(" (")[0] for s in stages] == [
        "Creating the environment",
        "Downloading torch",
        "Downloading and installing the training packages",
        "Checking the environment",
    ]
    commands = [line for line in lines if line.startswith("fake-uv")]
    assert f"--python {runtime.python_version()}" in commands[0]
    assert f"torch=={runtime.pins()['torch']}" in commands[1]
    assert "--index-url https://download.pytorch.org/whl/cpu" in commands[1]
    assert f"--constraint {runtime.PINS_FILE}" in commands[2] and " transformers " in commands[2]
    marker = json.loads((state.folder / runtime.MARKER).read_text(encoding="utf-8"))
    assert marker["pins"] == runtime.pins_digest() and marker["torch_variant"] == "cpu"
    assert sorted(p.name for p in (root / "runtime").iterdir()) == [state.folder.name]
    assert install(root, uv)[1] == []  # already there: nothing to do


def test_a_runtime_for_another_version_or_without_marker_is_rebuilt(
    tmp_path: Path, uv: Path
) -> None:
    root = tmp_path / "data"
    state, _stages, _lines = install(root, uv)
    old = root / "runtime" / "training-0.0.1-linux-x86_64"
    old.mkdir()
    (state.folder / runtime.MARKER).write_text(
        json.dumps({**runtime.wanted_marker("cpu"), "pins": "other"}), encoding="utf-8"
    )
    stale = runtime.status(root)
    assert not stale.ready and set(stale.stale) == {state.folder, old}
    again, stages, _lines = install(root, uv)
    assert again.ready and stages[0].startswith("Removing an unusable runtime")
    assert sorted(p.name for p in (root / "runtime").iterdir()) == [state.folder.name]
    (again.folder / runtime.MARKER).unlink()  # an install that never finished
    assert not runtime.status(root).ready


def test_offline_says_what_it_needs_and_leaves_nothing(
    tmp_path: Path, uv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "FAKE_UV_FAIL",
        "error: Request failed\n  Caused by: error sending request for url "
        "(https://download.pytorch.org/whl/cpu/torch/)\n  Caused by: dns error",
    )
    root = tmp_path / "data"
    with pytest.raises(runtime.RuntimeInstallError) as failed:
        install(root, uv)
    assert str(failed.value) == runtime.offline_message("cpu")
    assert "needs the internet once (about 1 GB" in str(failed.value)
    assert list((root / "runtime").iterdir()) == []


def test_another_failure_quotes_the_installer(
    tmp_path: Path, uv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_UV_FAIL", "No solution found when resolving dependencies")
    with pytest.raises(runtime.RuntimeInstallError, match="exit code 2.*No solution found"):
        install(tmp_path / "data", uv)


def test_cancel_kills_the_installer_and_leaves_nothing(
    tmp_path: Path, uv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile = tmp_path / "pid"
    monkeypatch.setenv("FAKE_UV_SLEEP", "60")
    monkeypatch.setenv("FAKE_UV_PIDFILE", str(pidfile))
    cancel = threading.Event()
    started = time.monotonic()

    def cancel_when_running() -> bool:
        if pidfile.exists():
            cancel.set()
        return cancel.is_set()

    root = tmp_path / "data"
    with pytest.raises(runtime.InstallCancelled):
        install(root, uv, should_cancel=cancel_when_running)
    assert time.monotonic() - started < 30
    pid = int(pidfile.read_text(encoding="utf-8"))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert list((root / "runtime").iterdir()) == []


def test_remove_frees_everything_and_says_how_much(tmp_path: Path, uv: Path) -> None:
    root = tmp_path / "data"
    state, _stages, _lines = install(root, uv)
    (state.folder / "big").write_bytes(b"x" * 1_000_000)
    freed = runtime.remove(root)
    assert freed >= 1_000_000 and not (root / "runtime").exists()
    assert runtime.remove(root) == 0


def test_no_uv_is_a_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "uv_binary", lambda: None)
    with pytest.raises(runtime.RuntimeInstallError, match="no installer"):
        runtime.install(tmp_path, variant="cpu")


def test_the_training_process_gets_the_shipped_code_and_its_own_library_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(runtime, "packaged", lambda: True)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    (tmp_path / "training" / "llama.cpp-tools").mkdir(parents=True)
    env = runtime.training_environment(
        {"LD_LIBRARY_PATH": str(tmp_path), "LD_LIBRARY_PATH_ORIG": "/usr/lib/x", "PATH": "/bin"}
    )
    assert env["PYTHONPATH"] == str(tmp_path / "training")
    assert env["CAPTIONIST_LLAMA_TOOLS_DIR"] == str(tmp_path / "training" / "llama.cpp-tools")
    assert env["LD_LIBRARY_PATH"] == "/usr/lib/x" and "LD_LIBRARY_PATH_ORIG" not in env
    assert "LD_LIBRARY_PATH" not in runtime.clean_environment({"LD_LIBRARY_PATH": "/b"})


def test_remove_waits_for_a_running_fine_tune(tmp_path: Path, uv: Path) -> None:
    from filelock import FileLock

    root = tmp_path / "data"
    install(root, uv)
    with (
        FileLock(str(root / "finetune.lock")),
        pytest.raises(runtime.RuntimeInstallError, match="A fine-tune is running"),
    ):
        runtime.remove(root)
    assert runtime.status(root).ready
