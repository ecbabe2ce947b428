"""Fixtures for the window tests, and the check that no test leaves a thread or timer
running (tests/ui/leaks.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from app.ui.window.main_window import MainWindow
from tests.ui.leaks import leaks_since, snapshot


@pytest.fixture(autouse=True)
def no_leftover_threads_or_timers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test if it leaves a non-daemon thread or an active QTimer behind. Autouse
    fixtures are set up before the test's own, so this is torn down last: after qtbot and
    open_window have closed their widgets."""
    before = snapshot()
    yield
    if request.node.get_closest_marker("allow_leftovers"):
        return
    leaks = leaks_since(before)
    if leaks:
        pytest.fail("the test left running:\n  " + "\n  ".join(leaks), pytrace=False)


@pytest.fixture
def open_window(qtbot: QtBot, data_dir: DataDir) -> Iterator[object]:
    windows: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow(data_dir)
        window.no_welcome = True
        qtbot.addWidget(window)
        window.resize(1200, 800)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
