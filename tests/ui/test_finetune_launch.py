"""The fine-tune screen from the library window: the File menu entry, one screen kept per
window, a run kept going in the background (the status bar tells how it ended), and
quitting the window mid-run cancels it. Runs here are the contract's event double
(tests/services/finetune_event_double.py); the screen's real runs are in
test_finetune_screen.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QAction
from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from app.services.finetune_bridge import FinetuneBridge
from app.ui.finetune import launch as finetune_launch
from app.ui.finetune.dialog import FinetuneDialog
from app.ui.window.main_window import MainWindow
from tests.finetune_fixtures import corrected_library

DOUBLE = Path(__file__).parents[1] / "services" / "finetune_event_double.py"
WAIT = 20_000
MENU_TEXT = "Fine-tune on my corrections…"


@pytest.fixture
def window(qtbot: QtBot, data_dir: DataDir, tmp_path: Path) -> Iterator[MainWindow]:
    corrected_library(data_dir, tmp_path / "photos")
    main = MainWindow(data_dir)
    main.no_welcome = True
    qtbot.addWidget(main)
    main.show()
    yield main
    main.close()


def use_double(monkeypatch: pytest.MonkeyPatch, scenario: str, delay: float) -> None:
    """The launcher's bridge runs the event DOUBLE instead of the real CLI."""
    argv = [sys.executable, str(DOUBLE), scenario, "40", str(delay)]

    def bridge(root: Path, parent: object) -> FinetuneBridge:
        return FinetuneBridge(root, parent, command=lambda _request: argv)  # type: ignore[arg-type]

    monkeypatch.setattr(finetune_launch, "FinetuneBridge", bridge)


def menu_action(window: MainWindow) -> QAction:
    file_menu = window.menuBar().actions()[0].menu()
    return next(a for a in file_menu.actions() if a.text() == MENU_TEXT)  # type: ignore[union-attr]


def test_file_menu_opens_one_screen(qtbot: QtBot, window: MainWindow) -> None:
    menu_action(window).trigger()
    launcher = window.extras.finetune_launcher()
    dialog = launcher.dialog
    assert isinstance(dialog, FinetuneDialog) and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.corrections.rowCount() == 5, timeout=WAIT)
    dialog.hide()
    menu_action(window).trigger()
    assert window.extras.finetune_launcher() is launcher and launcher.dialog is dialog
    assert dialog.isVisible()


def test_a_run_kept_in_the_background_reports_in_the_status_bar(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_double(monkeypatch, "ok", delay=0.05)
    dialog = window.extras.finetune_launcher().open()
    dialog.bridge.start(dialog.request())
    qtbot.waitUntil(lambda: len(dialog.progress.curve.points()) >= 2, timeout=WAIT)
    monkeypatch.setattr(dialog, "close_choice", lambda: "keep")
    dialog.reject()
    assert not dialog.isVisible() and dialog.bridge.running()
    qtbot.waitUntil(lambda: dialog.bridge.last_outcome == "succeeded", timeout=WAIT)
    assert window.statusBar().currentMessage() == "Fine-tune finished."
    assert len(dialog.progress.curve.points()) == 40  # the hidden screen kept up


def test_closing_the_window_cancels_a_run(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_double(monkeypatch, "slow", delay=0.02)
    dialog = window.extras.finetune_launcher().open()
    bridge = dialog.bridge
    bridge.start(dialog.request())
    qtbot.waitUntil(lambda: len(dialog.progress.curve.points()) >= 2, timeout=WAIT)
    pid = bridge.process.processId()  # type: ignore[union-attr]
    window.close()
    assert not bridge.running()
    assert bridge.last_outcome == "cancelled"
    assert not Path(f"/proc/{pid}").exists() or "zombie" in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"
