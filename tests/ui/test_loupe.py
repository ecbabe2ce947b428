"""The large view: Enter, Space or a double-click on the grid shows the current item
large with its caption; arrows step through the grid's order (the grid follows), the
wheel and +/-/0/1 zoom, Escape goes back to the grid; a video shows a play button."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.ui.viewer.loupe import next_row
from app.ui.window.main_window import MainWindow
from tests.caption_support import store_model_caption
from tests.media_factory import write_video
from tests.ui.test_main_window import WAIT, item_id, loaded, window_with

PHOTOS = {"a.jpg": "astronaut", "b.jpg": "coffee", "c.jpg": "chelsea"}


def shown(window: MainWindow, name: str) -> bool:
    loupe = window.stage.loupe
    return loupe.shown is not None and loupe.shown.details.name == name


def test_enter_opens_arrows_step_escape_returns(
    qtbot: QtBot, open_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "photos", PHOTOS)
    store_model_caption(window.db, item_id(window, "a.jpg"), "An astronaut in a flight suit", [])
    model = window.gallery_model
    names = [model.row_of(i).name for i in model.ids()]  # type: ignore[union-attr]
    window.gallery.select_item(item_id(window, names[0]))
    window.gallery.setFocus()
    qtbot.keyClick(window.gallery, Qt.Key.Key_Return)
    assert window.stage.in_loupe and window.stage.loupe.hasFocus()
    qtbot.waitUntil(lambda: shown(window, names[0]), timeout=WAIT)

    qtbot.keyClick(window.stage.loupe, Qt.Key.Key_Right)
    assert window.gallery.current_item() == item_id(window, names[1])  # the grid follows
    qtbot.waitUntil(lambda: shown(window, names[1]), timeout=WAIT)
    qtbot.keyClick(window.stage.loupe, Qt.Key.Key_Right)
    qtbot.keyClick(window.stage.loupe, Qt.Key.Key_Right)  # at the end: stays
    qtbot.waitUntil(lambda: shown(window, names[2]), timeout=WAIT)
    assert window.gallery.current_item() == item_id(window, names[2])
    qtbot.keyClick(window.stage.loupe, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: shown(window, names[1]), timeout=WAIT)

    qtbot.keyClick(window.stage.loupe, Qt.Key.Key_Escape)
    assert not window.stage.in_loupe and window.gallery.hasFocus()
    assert window.gallery.current_item() == item_id(window, names[1])
    # the details panel followed the steps
    assert window.details.panel.item_id() == item_id(window, names[1])


def test_space_opens_on_the_grid_but_types_in_the_search_box(
    qtbot: QtBot, open_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "photos", PHOTOS)
    window.gallery.select_item(window.gallery_model.ids()[0])
    window.activateWindow()
    search = window.toolbar.search
    search.setFocus()
    qtbot.keyClicks(search, "a b")
    assert search.text() == "a b" and not window.stage.in_loupe
    window.gallery.setFocus()
    qtbot.waitUntil(window.gallery.hasFocus, timeout=WAIT)
    qtbot.keyClick(window.gallery, Qt.Key.Key_Space)
    assert window.stage.in_loupe
    assert "Space" in window.stage.open_action.shortcut().toString()
    view_menu = next(a.menu() for a in window.menuBar().actions() if "View" in a.text())
    assert window.stage.open_action in view_menu.actions()  # the shortcut is in a menu


def test_zoom_keys_and_wheel(
    qtbot: QtBot, open_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "photos", {"a.jpg": "astronaut"})
    window.gallery.select_item(window.gallery_model.ids()[0])
    assert window.stage.open()
    loupe = window.stage.loupe
    qtbot.waitUntil(lambda: loupe.shown is not None, timeout=WAIT)
    fit = loupe.scale()
    assert loupe.zoom is None and 0 < fit <= 1
    rect = loupe.picture_rect()
    assert loupe.rect().contains(rect.toRect().adjusted(1, 1, -1, -1))  # fits
    qtbot.keyClick(loupe, Qt.Key.Key_1)
    assert loupe.scale() == 1.0
    qtbot.keyClick(loupe, Qt.Key.Key_Minus)
    assert loupe.scale() < 1.0
    qtbot.keyClick(loupe, Qt.Key.Key_0)
    assert loupe.zoom is None
    centre = QPointF(loupe.rect().center())
    wheel = QWheelEvent(
        centre,
        loupe.mapToGlobal(centre),
        QPoint(),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(loupe, wheel)
    assert loupe.scale() > fit
    qtbot.keyClick(loupe, Qt.Key.Key_Space)  # a photo: Space toggles fit / 100 %
    assert loupe.zoom is None or loupe.zoom == 1.0


def test_a_video_shows_a_play_button_and_a_broken_file_says_why(
    qtbot: QtBot, open_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    write_video(folder / "clip.avi")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    window = open_window()
    window.add_folder(str(folder))
    qtbot.waitUntil(lambda: loaded(window, 2), timeout=WAIT)
    window.gallery.select_item(item_id(window, "clip.avi"))
    assert window.stage.open()
    loupe = window.stage.loupe
    qtbot.waitUntil(lambda: loupe.shown is not None, timeout=WAIT)
    assert loupe.is_video
    image = loupe.grab().toImage()
    centre = loupe.picture_rect().center().toPoint()
    assert image.pixelColor(centre).lightness() > 200  # the play triangle's white
    window.gallery.select_item(item_id(window, "broken.jpg"))
    assert window.stage.open()
    qtbot.waitUntil(lambda: loupe.error is not None, timeout=WAIT)
    assert "cannot be shown" in loupe.error


def test_steps_stop_at_the_ends() -> None:
    assert next_row(0, -1, 3) is None
    assert next_row(2, 1, 3) is None
    assert next_row(1, 1, 3) == 2
    assert next_row(1, -5, 3) == 0
