"""The fine-tune screen in the packaged app (`models.finetune.runtime.packaged` patched:
no bundle needed) and from source: "Install training components (≈ 1 GB)" runs the app's
own `finetune-runtime install` (with a stand-in uv: tests/models/fake_uv.py) with its output
and Cancel, then Start is possible and "Remove training components (frees …)" is offered;
from source none of that shows."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from models.finetune import runtime
from models.finetune.plan import runtime_refusal
from tests.finetune_fixtures import corrected_library, install_fixture_model
from tests.ui.test_finetune_screen import WAIT, Opener, click, open_screen, planned

__all__ = ["open_screen"]  # the fixture, shared with the screen's tests
pytestmark = pytest.mark.skipif(os.name == "nt", reason="the stand-in uv is a shell script")
FAKE_UV = Path(__file__).parents[1] / "models" / "fake_uv.py"


@pytest.fixture
def packaged(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The packaged app's decisions, and a stand-in uv for its installer (a child process
    that inherits the environment)."""
    monkeypatch.setattr(runtime, "packaged", lambda: True)
    uv = tmp_path / "uv"
    uv.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_UV}" "$@"\n', encoding="utf-8")
    uv.chmod(0o755)
    monkeypatch.setenv(runtime.UV_ENV, str(uv))
    for name in ("FAKE_UV_FAIL", "FAKE_UV_SLEEP", "UV_CACHE_DIR", "UV_PYTHON_INSTALL_DIR"):
        monkeypatch.delenv(name, raising=False)
    return uv


def library(data_dir: DataDir, tmp_path: Path) -> None:
    install_fixture_model(data_dir)
    corrected_library(data_dir, tmp_path / "photos")


def test_packaged_install_then_start_then_remove(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, packaged: Path, open_screen: Opener
) -> None:
    library(data_dir, tmp_path)
    dialog = open_screen()
    p = dialog.plan
    qtbot.waitUntil(lambda: planned(dialog) and p.install_button.isEnabled(), timeout=WAIT)
    assert p.reason.text() == runtime_refusal() and not p.start_button.isEnabled()
    assert p.install_button.isVisible()
    assert p.install_button.text() == "Install training components (≈ 1 GB)"
    assert not p.remove_button.isVisible()
    with qtbot.waitSignal(p.installed, timeout=120_000) as ended:
        click(qtbot, p.install_button)
    assert ended.args == [True], p.install_log.toPlainText()
    log = p.install_log.toPlainText()
    assert "finetune-runtime install" in log and "Creating the environment" in log
    assert "Training components installed" in log
    assert runtime.status(data_dir.root).ready
    qtbot.waitUntil(lambda: p.start_button.isEnabled(), timeout=WAIT)
    qtbot.waitUntil(lambda: p.remove_button.isVisible(), timeout=WAIT)
    assert p.remove_button.text().startswith("Remove training components (frees ")
    assert not p.install_button.isVisible()
    click(qtbot, p.remove_button)
    qtbot.waitUntil(lambda: p.install_button.isVisible(), timeout=WAIT)
    assert "Removed the training components:" in p.install_log.toPlainText()
    assert not (data_dir.root / "runtime").exists()
    qtbot.waitUntil(lambda: p.reason.text() == runtime_refusal(), timeout=WAIT)


def test_packaged_install_cancel_leaves_nothing(
    qtbot: QtBot,
    data_dir: DataDir,
    tmp_path: Path,
    packaged: Path,
    open_screen: Opener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_UV_SLEEP", "60")
    monkeypatch.setenv("FAKE_UV_PIDFILE", str(tmp_path / "uv.pid"))
    library(data_dir, tmp_path)
    dialog = open_screen()
    p = dialog.plan
    qtbot.waitUntil(lambda: planned(dialog) and p.install_button.isEnabled(), timeout=WAIT)
    click(qtbot, p.install_button)
    qtbot.waitUntil(lambda: "Downloading torch" in p.install_log.toPlainText(), timeout=WAIT)
    qtbot.waitUntil(lambda: (tmp_path / "uv.pid").exists(), timeout=WAIT)
    with qtbot.waitSignal(p.installed, timeout=30_000) as ended:
        p.install_cancel.click()
    assert ended.args == [False]
    assert p.install_log.toPlainText().rstrip().endswith("Installation cancelled.")
    pid = int((tmp_path / "uv.pid").read_text(encoding="utf-8"))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # uv was stopped with the installer
    assert list((data_dir.root / "runtime").iterdir()) == []
    assert p.install_button.isVisible()


def test_from_source_nothing_changes(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, open_screen: Opener
) -> None:
    library(data_dir, tmp_path)
    dialog = open_screen()
    p = dialog.plan
    qtbot.waitUntil(lambda: planned(dialog), timeout=WAIT)
    assert p.start_button.isEnabled()
    assert not p.install_button.isVisible() and not p.remove_button.isVisible()
    assert p.install_button.text() == "Install training components"
