"""Fixtures for the window tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from app.ui.window.main_window import MainWindow


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
