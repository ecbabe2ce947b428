"""The details panel fits the column it is given: at common laptop window sizes, with a
captioned item whose name, model and tags are long, every button of the panel can be
seen whole (text wraps and buttons reflow rather than run off the right edge)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractButton, QWidget
from pytestqt.qtbot import QtBot

from app.ui.details.panel import DetailsPanel
from app.ui.details.widgets import WrappedLabel, breakable, wrapped
from app.ui.window.main_window import MainWindow
from tests.caption_support import store_model_caption
from tests.ui.test_main_window import WAIT, item_id, window_with

LONG_NAME = "IMG_20240612_183455_holiday_at_the_beach_with_friends_and_family.jpg"
LONG_MODEL = "SmolVLM2-2.2B-Instruct-Q4_K_M-with-a-long-finetuned-adapter-name.gguf"
TAGS = ["beach", "sunset", "friends", "a-very-long-tag-that-has-no-spaces-in-it-at-all"]


def visible_buttons(panel: DetailsPanel) -> list[QAbstractButton]:
    return [b for b in panel.findChildren(QAbstractButton) if b.isVisibleTo(panel)]


def shown_rect(widget: QWidget, panel: DetailsPanel) -> QRect:
    """The widget's rectangle in the scroll area's viewport (what the user sees)."""
    viewport = panel.scroll_area.viewport()
    return QRect(widget.mapTo(viewport, widget.rect().topLeft()), widget.size())


@pytest.mark.parametrize(
    ("size", "narrowest"), [((1280, 800), False), ((1440, 900), False), ((1280, 800), True)]
)
def test_every_details_button_is_fully_visible_at_laptop_sizes(
    qtbot: QtBot, open_window: object, tmp_path: Path, size: tuple[int, int], narrowest: bool
) -> None:
    """At the window's first layout, and with the panel dragged to its narrowest."""
    window: MainWindow = window_with(
        qtbot, open_window, tmp_path / "Photos", {LONG_NAME: "astronaut"}
    )
    target = item_id(window, LONG_NAME)
    store_model_caption(window.db, target, "An earlier caption", ["old"], model_id=LONG_MODEL)
    store_model_caption(
        window.db,
        target,
        "A woman in an orange flight suit holding a helmet in front of a flag and a model "
        "of the space shuttle, smiling at the camera",
        TAGS,
        model_id=LONG_MODEL,
    )
    window.resize(*size)
    if narrowest:
        total = sum(window.splitter.sizes())
        window.splitter.setSizes([280, total - 280 - 260, 260])
    window.gallery.select_item(target)
    panel = window.details.panel
    if narrowest:
        assert panel.width() == panel.minimumWidth()
    qtbot.waitUntil(
        lambda: panel.details() is not None and panel.chips.chip_texts() == TAGS, timeout=WAIT
    )
    qtbot.waitUntil(lambda: panel.editor.accept_button.isVisible(), timeout=WAIT)
    panel.editor.editor.setPlainText("A woman in an orange flight suit, edited")  # Save on
    qtbot.wait(50)  # let the layouts settle

    viewport = panel.scroll_area.viewport()
    assert panel.scroll_area.widget().width() <= viewport.width()
    buttons = visible_buttons(panel)
    names = {b.text() for b in buttons}
    assert {"Accept", "Revert", "Save", "Restore", "Current"} <= names
    for button in buttons:
        panel.scroll_area.ensureWidgetVisible(button, 0, 0)
        rect = shown_rect(button, panel)
        assert viewport.rect().contains(rect), (
            f"{button.text() or button.toolTip()!r} at {rect} is cut off: the panel shows "
            f"{viewport.rect()} (window {size})"
        )
    for text_box in (panel.editor.editor, panel.title, panel.folder, panel.chips.input):
        assert shown_rect(text_box, panel).right() <= viewport.rect().right()


def test_a_long_file_name_wraps_and_copies_without_the_added_breaks(qtbot: QtBot) -> None:
    label = wrapped(LONG_NAME, selectable=True)
    assert isinstance(label, WrappedLabel)
    qtbot.addWidget(label)
    label.resize(200, 100)
    label.show()
    assert label.text() == LONG_NAME
    assert label.heightForWidth(200) > 2 * label.fontMetrics().lineSpacing()  # it wraps
    label.setSelection(0, len(breakable(LONG_NAME)))
    assert label.selected_text() == LONG_NAME
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(label, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == LONG_NAME


@pytest.mark.parametrize("picture", ["astronaut", "portrait"])
def test_a_square_or_portrait_preview_leaves_the_caption_above_the_fold(
    qtbot: QtBot, open_window: object, tmp_path: Path, picture: str
) -> None:
    """At 1280x800 the caption box starts within the panel's visible height."""
    from PIL import Image

    folder = tmp_path / "Photos"
    if picture == "portrait":
        folder.mkdir()
        Image.new("RGB", (600, 1200), (120, 160, 200)).save(folder / "tall.jpg")
        name = "tall.jpg"
        window: MainWindow = open_window()  # type: ignore[operator]
        window.add_folder(str(folder))
        qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 1, timeout=WAIT)
    else:
        name = "square.jpg"
        window = window_with(qtbot, open_window, folder, {name: picture})  # 512x512
    window.resize(1280, 800)
    target = item_id(window, name)
    window.gallery.select_item(target)
    panel = window.details.panel
    qtbot.waitUntil(lambda: panel.preview.pixmap() is not None, timeout=WAIT)
    qtbot.wait(50)
    viewport = panel.scroll_area.viewport()
    assert panel.preview.height() <= 0.41 * viewport.height()
    assert shown_rect(panel.editor, panel).top() < viewport.height()
