"""The grid has priority: side panels fold when the window is narrow (details first),
come back when it widens, are toggled from the View menu with their shortcuts, and the
user's choice (not a fold for lack of room) is remembered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.ui.window.main_window import MainWindow
from app.ui.window.panels import GRID_MIN
from tests.caption_support import store_model_caption
from tests.ui.test_main_window import WAIT, window_with


def settle() -> None:
    for _ in range(3):
        QApplication.processEvents()


def grid_width(window: MainWindow) -> int:
    return window.stage.width()


def test_narrow_windows_fold_the_panels_not_the_grid(
    qtbot: QtBot, open_window: Callable[[], MainWindow]
) -> None:
    window = open_window()
    panels = window.panels
    sidebar, details = window.sidebar, window.details.widget
    window.resize(1400, 800)
    settle()
    assert sidebar.isVisible() and details.isVisible()
    assert grid_width(window) >= GRID_MIN
    window.resize(900, 800)
    settle()
    assert sidebar.isVisible() and not details.isVisible()  # details fold first
    assert panels.folded("details") and grid_width(window) >= GRID_MIN
    window.resize(640, 800)
    settle()
    assert not sidebar.isVisible() and not details.isVisible()
    assert grid_width(window) >= GRID_MIN
    assert not window.stage.gallery.horizontalScrollBar().isVisible()
    window.resize(1400, 800)
    settle()
    assert sidebar.isVisible() and details.isVisible()  # back when there is room


def test_the_view_menu_toggles_panels_and_the_choice_is_remembered(
    qtbot: QtBot, open_window: Callable[[], MainWindow]
) -> None:
    window = open_window()
    window.resize(1400, 800)
    settle()
    view_menu = next(a.menu() for a in window.menuBar().actions() if "View" in a.text())
    details_action = window.panels.actions["details"]
    assert details_action in view_menu.actions()
    assert details_action.shortcut().toString() == "Ctrl+I"
    details_action.trigger()
    settle()
    assert not window.details.widget.isVisible()
    window.panels.both.trigger()  # one still shown: both hide
    settle()
    assert not window.sidebar.isVisible()
    window.panels.both.trigger()  # both hidden: both come back
    settle()
    assert window.sidebar.isVisible() and window.details.widget.isVisible()
    window.panels.actions["library"].trigger()
    settle()
    assert not window.sidebar.isVisible()
    window.close()

    again = open_window()
    again.resize(1400, 800)
    settle()
    assert not again.sidebar.isVisible() and again.details.widget.isVisible()
    # a panel folded for lack of room is not remembered as hidden
    again.panels.actions["library"].trigger()
    again.resize(700, 800)
    settle()
    again.close()
    third = open_window()
    third.resize(1400, 800)
    settle()
    assert third.sidebar.isVisible() and third.details.widget.isVisible()


def test_tab_follows_the_eye_and_f2_puts_a_caret_in_a_ringed_caption_box(
    qtbot: QtBot, open_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    """Focus order: folders → search → grid → caption; F2 gives the caption box the focus,
    the caret at the end, and a ring in the highlight colour."""
    window = window_with(qtbot, open_window, tmp_path / "photos", {"a.jpg": "astronaut"})
    target = window.gallery_model.ids()[0]
    store_model_caption(window.db, target, "A portrait of an astronaut", [])
    window.gallery.select_item(target)
    panel = window.details.panel
    qtbot.waitUntil(lambda: panel.editor.text() == "A portrait of an astronaut", timeout=WAIT)
    chain = [window.sidebar.tree, window.toolbar.search, window.gallery, panel.editor.editor]
    for first, second in zip(chain, chain[1:], strict=False):
        assert first.nextInFocusChain() is second or _next_focusable(first) is second
    window.activateWindow()
    window.gallery.setFocus()
    qtbot.keyClick(window.gallery, Qt.Key.Key_F2)
    editor = panel.editor.editor
    qtbot.waitUntil(editor.hasFocus, timeout=WAIT)
    assert editor.textCursor().position() == len(editor.toPlainText())
    assert ":focus" in editor.styleSheet() and "palette(highlight)" in editor.styleSheet()


def _next_focusable(widget: QWidget) -> QWidget:
    """The next widget Tab reaches (skipping the ones that do not take Tab focus)."""
    candidate = widget.nextInFocusChain()
    while not candidate.focusPolicy() & Qt.FocusPolicy.TabFocus or not candidate.isVisible():
        candidate = candidate.nextInFocusChain()
    return candidate
