"""An unhandled exception in the window is a dialog naming the log file, the log gets
the traceback, and Help opens the log folder. `QDesktopServices.openUrl` is replaced by
a recording double (`opened`), so no file manager starts."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from app.core.logs import setup_logging
from app.ui.crash import CrashReporter
from app.ui.window import main_window
from app.ui.window.main_window import MainWindow


@pytest.fixture
def reporter(tmp_path: Path) -> Iterator[CrashReporter]:
    """Installed for the test; the hooks it replaced (pytest's own) come back after."""
    hooks = sys.excepthook, threading.excepthook
    crashes = CrashReporter(setup_logging(tmp_path))
    crashes.install()
    try:
        yield crashes
    finally:
        crashes.uninstall()
        if crashes.box is not None:
            crashes.box.done(0)
        assert (sys.excepthook, threading.excepthook) == hooks


def _fail() -> None:
    raise ZeroDivisionError("the unexpected thing")


def test_an_exception_in_a_timer_callback_shows_the_log_path(
    qtbot: QtBot, reporter: CrashReporter, tmp_path: Path
) -> None:
    QTimer.singleShot(0, _fail)
    qtbot.waitUntil(lambda: reporter.box is not None and reporter.box.isVisible())
    box = reporter.box
    assert box is not None
    log_path = tmp_path / "logs" / "captionist.log"
    assert str(log_path) in box.text()
    assert "keeps running" in box.text()
    assert "ZeroDivisionError: the unexpected thing" in box.detailedText()
    logged = log_path.read_text(encoding="utf-8")
    assert "Traceback" in logged and "ZeroDivisionError: the unexpected thing" in logged


def test_an_exception_on_a_python_thread_reaches_the_gui_thread(
    qtbot: QtBot, reporter: CrashReporter
) -> None:
    thread = threading.Thread(target=_fail, name="helper")
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: reporter.box is not None and reporter.box.isVisible())
    assert reporter.box is not None
    assert "ZeroDivisionError" in reporter.box.detailedText()


def test_a_second_error_joins_the_open_box(qtbot: QtBot, reporter: CrashReporter) -> None:
    QTimer.singleShot(0, _fail)
    qtbot.waitUntil(lambda: reporter.box is not None and reporter.box.isVisible())
    first = reporter.box

    def other() -> None:
        raise KeyError("second")

    QTimer.singleShot(0, other)
    qtbot.waitUntil(lambda: first is not None and "KeyError" in first.detailedText())
    assert reporter.box is first


def test_without_a_log_file_the_box_says_so(qtbot: QtBot) -> None:
    crashes = CrashReporter(None)
    assert "could not be written" in crashes.message()


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[QUrl]:
    """A double for QDesktopServices.openUrl: records the address, opens nothing."""
    urls: list[QUrl] = []

    def record(url: QUrl) -> bool:
        urls.append(url)
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(record))
    return urls


def test_help_opens_the_log_folder(
    open_window: Callable[[], MainWindow], data_dir: DataDir, opened: list[QUrl]
) -> None:
    window = open_window()
    help_menu = next(m for m in window.menuBar().actions() if m.text() == "&Help").menu()
    actions = {a.text(): a for a in help_menu.actions()}
    actions["Open log folder"].trigger()
    assert [Path(url.toLocalFile()) for url in opened] == [data_dir.root / "logs"]
    assert (data_dir.root / "logs").is_dir()


def test_a_library_on_a_network_drive_is_warned_about_at_start(
    open_window: Callable[[], MainWindow], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(main_window, "network_warning", lambda root: "on nfs4, move it")
    window = open_window()
    assert "on nfs4, move it" in window.activity.note.text()


def test_a_local_library_gets_no_warning(open_window: Callable[[], MainWindow]) -> None:
    window = open_window()
    assert "network drive" not in window.activity.note.text()


def test_the_application_sets_up_the_log_and_the_hooks_while_it_runs(
    qtbot: QtBot, data_dir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_gui with a stand-in window and event loop: during the loop the hooks are the
    reporter's and the log file is open; after it, the earlier hooks are back."""
    from types import SimpleNamespace

    from PySide6.QtWidgets import QApplication

    from app.ui import application

    class StandInWindow:
        recovery_wanted = False

        def __init__(self, _data_dir: DataDir) -> None:
            self.handover = SimpleNamespace(receive=lambda *_: None)

        def show(self) -> None:
            pass

    seen: list[object] = []

    def loop(*_: object) -> int:
        seen.append(getattr(sys.excepthook, "__self__", None))
        logging.getLogger("captionist.test").warning("during the loop")
        return 0

    hooks = sys.excepthook, threading.excepthook
    monkeypatch.setattr(main_window, "MainWindow", StandInWindow)
    monkeypatch.setattr(application, "apply_look", lambda _app, _data_dir: None)
    monkeypatch.setattr(application, "_close_on_signals", lambda _app: None)
    monkeypatch.setattr(QApplication, "exec", loop)
    assert application.run_gui(data_dir) == 0
    assert isinstance(seen[0], CrashReporter)
    assert (sys.excepthook, threading.excepthook) == hooks
    log_text = (data_dir.root / "logs" / "captionist.log").read_text(encoding="utf-8")
    assert "during the loop" in log_text


def test_a_window_closed_for_recovery_is_opened_again_after_it(
    qtbot: QtBot, data_dir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Damage found while the window was open: run_gui asks the recovery dialog with what
    the window saw, then opens a new window on the recovered library."""
    from types import SimpleNamespace

    from PySide6.QtWidgets import QApplication

    from app.ui import application
    from app.ui.window import recovery

    windows: list[object] = []
    asked: list[str | None] = []

    class StandInWindow:
        def __init__(self, _data_dir: DataDir) -> None:
            self.handover = SimpleNamespace(receive=lambda *_: None)
            self.recovery_wanted = not windows  # the first one closes for recovery
            self.damage = SimpleNamespace(detail="database disk image is malformed")
            self.deleteLater = lambda: None
            windows.append(self)

        def show(self) -> None:
            pass

    def ask(_database: object, seen: str | None = None) -> bool:
        asked.append(seen)
        return True

    monkeypatch.setattr(main_window, "MainWindow", StandInWindow)
    monkeypatch.setattr(recovery, "recover_if_damaged", ask)
    monkeypatch.setattr(application, "apply_look", lambda _app, _data_dir: None)
    monkeypatch.setattr(application, "_close_on_signals", lambda _app: None)
    monkeypatch.setattr(QApplication, "exec", lambda *_: 0)
    assert application.run_gui(data_dir) == 0
    assert len(windows) == 2
    assert asked == [None, "database disk image is malformed"]
