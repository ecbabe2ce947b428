"""The leftover check in tests/ui/conftest.py catches a real leak and lets an orderly
shutdown pass."""

from __future__ import annotations

import threading

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from tests.ui.leaks import leaks_since, snapshot


def test_a_thread_still_running_is_a_leak() -> None:
    before = snapshot()
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="leaky", daemon=False)
    thread.start()
    try:
        leaks = leaks_since(before, grace=0.05)
    finally:
        release.set()
        thread.join()
    assert leaks == ["thread 'leaky' (Thread)"]


def test_a_thread_that_ends_within_the_grace_period_is_not() -> None:
    before = snapshot()
    thread = threading.Thread(target=threading.Event().wait, args=(0.05,), daemon=False)
    thread.start()
    assert leaks_since(before, grace=1.0) == []
    assert not thread.is_alive()


def test_a_daemon_thread_is_not_a_leak() -> None:
    before = snapshot()
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    try:
        assert leaks_since(before, grace=0.05) == []
    finally:
        release.set()
        thread.join()


def test_an_active_timer_on_a_window_is_a_leak(qtbot: QtBot) -> None:
    before = snapshot()
    window = QWidget()
    window.setObjectName("left-open")
    timer = QTimer(window)
    timer.start(1000)
    try:
        leaks = leaks_since(before, grace=0.05)
    finally:
        timer.stop()
        window.deleteLater()
    assert leaks == ["QTimer every 1000 ms in QWidget('left-open')"]


def test_a_stopped_timer_and_a_deleted_window_are_not(qtbot: QtBot) -> None:
    before = snapshot()
    window = QWidget()
    QTimer(window).start(1000)
    stopped = QTimer(window)
    stopped.start(1000)
    stopped.stop()
    window.deleteLater()
    assert leaks_since(before, grace=0.05) == []
