"""Item → Copy as alt text: the selected items' captions on the clipboard as web alt
text (no "A photo of", at most 125 characters, one line each), read off the GUI thread."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from app.core.alt_text import ALT_TEXT_CHARS
from app.services.changes import Changes
from tests.caption_support import store_model_caption
from tests.ui.test_main_window import WAIT, has_caption, item_id, window_with


def test_copy_as_alt_text_puts_alt_text_on_the_clipboard(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = window_with(
        qtbot,
        open_window,
        tmp_path / "Album",
        {"astronaut.jpg": "astronaut", "rocket.jpg": "rocket"},
    )
    astronaut, rocket = item_id(window, "astronaut.jpg"), item_id(window, "rocket.jpg")
    store_model_caption(window.db, astronaut, "A photo of an astronaut holding a helmet.")
    store_model_caption(window.db, rocket, "A rocket on its launch pad at dusk, " * 6)
    window.hub.publish(Changes.of_items([astronaut, rocket]))
    qtbot.waitUntil(
        lambda: has_caption(window, astronaut) and has_caption(window, rocket), timeout=WAIT
    )
    assert "Copy as alt text" in [a.text() for a in window.menuBar().actions()[2].menu().actions()]

    QGuiApplication.clipboard().clear()
    window.gallery.select_item(astronaut)
    window.items.copy_alt.trigger()
    qtbot.waitUntil(lambda: QGuiApplication.clipboard().text() != "", timeout=WAIT)
    assert QGuiApplication.clipboard().text() == "An astronaut holding a helmet."

    QGuiApplication.clipboard().clear()
    window.gallery.selectAll()
    window.items.copy_alt.trigger()
    qtbot.waitUntil(lambda: QGuiApplication.clipboard().text() != "", timeout=WAIT)
    lines = QGuiApplication.clipboard().text().split("\n")
    assert len(lines) == 2 and "An astronaut holding a helmet." in lines
    assert all(len(line) <= ALT_TEXT_CHARS for line in lines)
    assert "alt texts copied" in window.statusBar().currentMessage()
