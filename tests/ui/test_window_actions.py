"""The window a photographer keeps open: removing a folder asks with the count and can
be undone, removals say so with an Undo button and move the selection on, a file the
system cannot open is reported, a search says where it looks, the selection is
counted, and every shortcut is in a menu."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox
from pytestqt.qtbot import QtBot

from app.core.captions import CaptionStore
from app.core.library.reconcile import ScanReport
from app.core.queue_status import failed_items
from app.ui.window.main_window import MainWindow, scan_summary
from tests.media_factory import write_photo
from tests.ui.test_main_window import WAIT, item_id, loaded, shown_names, window_with

PHOTOS = {"astronaut.jpg": "astronaut", "coffee.jpg": "coffee", "rocket.jpg": "rocket"}


def names_in_order(window: MainWindow) -> list[str]:
    model = window.gallery_model
    rows = [model.row_of(i) for i in model.ids()]
    return [r.name for r in rows if r is not None]


def failed_names(window: MainWindow) -> list[str]:
    """The activity panel's list of items that need the user, as last read."""
    snapshot = window.activity._snapshot
    return [f.name for f in snapshot.failed] if snapshot is not None else []


def select_folder(window: MainWindow, qtbot: QtBot) -> None:
    folders = window.sidebar._folders_header
    qtbot.waitUntil(lambda: folders.childCount() == 1, timeout=WAIT)
    window.sidebar.tree.setCurrentItem(folders.child(0))


def message_box(window: MainWindow, name: str) -> QMessageBox:
    boxes = [b for b in window.findChildren(QMessageBox, name) if b.isVisible()]
    assert len(boxes) == 1
    return boxes[0]


def test_removing_a_folder_asks_with_the_count_and_cancel_leaves_everything(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "photos", PHOTOS)
    assert not window.sidebar.remove_button.isEnabled()  # All is selected, not a folder
    select_folder(window, qtbot)
    assert window.sidebar.remove_button.isEnabled()

    window.sidebar.remove_button.click()
    qtbot.waitUntil(lambda: window.folders.last_box is not None, timeout=WAIT)
    box = message_box(window, "remove_folder")
    assert box.text() == "Remove “photos” and its 3 items from the library?"
    assert "Captions are kept and come back if you add it again" in box.informativeText()
    box.button(QMessageBox.StandardButton.Cancel).click()

    qtbot.wait(300)
    assert window.library.status().items == 3
    assert not window.undo_stack.canUndo()
    assert window.sidebar._folders_header.childCount() == 1


def test_removed_folder_comes_back_with_captions_on_undo_and_failures_follow(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    write_photo(folder / "astronaut.jpg")
    write_photo(folder / "coffee.jpg", "coffee")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    window = open_window()  # type: ignore[operator]
    window.add_folder(str(folder))
    qtbot.waitUntil(lambda: loaded(window, 3), timeout=WAIT)
    coffee = item_id(window, "coffee.jpg")
    CaptionStore(window.db).add_user_caption(coffee, "my espresso")
    qtbot.waitUntil(lambda: len(failed_names(window)) == 1, timeout=WAIT)

    asked: list[str] = []
    window.folders.confirm = lambda question, _details, yes: (asked.append(question), yes())
    select_folder(window, qtbot)
    window.sidebar.remove_button.click()

    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 0, timeout=WAIT)
    assert asked == ["Remove “photos” and its 3 items from the library?"]
    qtbot.waitUntil(lambda: window.sidebar._folders_header.childCount() == 0, timeout=WAIT)
    assert window.sidebar.current_selection() == ("all", None)
    assert not window.sidebar.remove_button.isEnabled()
    assert failed_items(window.db) == []
    qtbot.waitUntil(lambda: failed_names(window) == [], timeout=WAIT)
    assert window.notice.text() == "Removed “photos” and its 3 items from the library"
    assert window.undo_stack.undoText() == "Remove folder “photos”"

    window.undo_stack.undo()  # Edit → Undo

    qtbot.waitUntil(lambda: loaded(window, 3), timeout=WAIT)
    assert window.notice.text() == "Undone: Remove folder “photos”"
    qtbot.waitUntil(lambda: window.sidebar._folders_header.childCount() == 1, timeout=WAIT)
    current = CaptionStore(window.db).current(coffee)
    assert current is not None and current.text == "my espresso"
    qtbot.waitUntil(lambda: failed_names(window) == ["broken.jpg"], timeout=WAIT)


def test_remove_item_says_so_with_undo_and_moves_the_selection_on(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "Album", PHOTOS)
    window.toolbar.sort.setCurrentIndex(window.toolbar.sort.findData("name"))
    window.toolbar.descending.setChecked(False)
    qtbot.waitUntil(
        lambda: names_in_order(window) == ["astronaut.jpg", "coffee.jpg", "rocket.jpg"],
        timeout=WAIT,
    )
    window.gallery.select_item(item_id(window, "coffee.jpg"))
    window.items.remove.trigger()

    qtbot.waitUntil(lambda: shown_names(window) == {"astronaut.jpg", "rocket.jpg"}, timeout=WAIT)
    assert window.notice.label.text() == "Removed 1 item"
    assert window.notice.button.text() == "Undo" and window.notice.button.isVisible()
    qtbot.waitUntil(
        lambda: window.gallery.current_item() == item_id(window, "rocket.jpg"), timeout=WAIT
    )
    assert window.gallery.selected_ids() == [item_id(window, "rocket.jpg")]

    window.notice.button.click()

    qtbot.waitUntil(lambda: loaded(window, 3), timeout=WAIT)
    assert window.notice.text() == "Undone: Remove coffee.jpg from the library"
    assert not window.notice.button.isVisible()


def test_a_file_the_system_cannot_open_is_reported_in_the_window(
    qtbot: QtBot, open_window: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "Album", {"rocket.jpg": "rocket"})
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda _url: False))
    window.gallery.select_item(item_id(window, "rocket.jpg"))

    window.items.open.trigger()
    assert "Couldn't open" in window.notice.text()
    assert "no program set to open .jpg files like rocket.jpg" in window.notice.text()

    (tmp_path / "Album" / "rocket.jpg").unlink()
    window.items.open.trigger()
    assert window.notice.text() == (
        f"Couldn't open: rocket.jpg is no longer at {tmp_path / 'Album'}"
    )


def test_search_in_a_view_says_where_and_escape_clears_it(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "Album", PHOTOS)
    toolbar = window.toolbar
    toolbar.search.setText("rocket")
    qtbot.waitUntil(lambda: shown_names(window) == {"rocket.jpg"}, timeout=WAIT)
    assert not toolbar.scope.isVisible()  # the whole library: nothing to say

    window.sidebar.select_view("errors")
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 0, timeout=WAIT)
    qtbot.waitUntil(toolbar.scope.isVisible, timeout=WAIT)
    assert toolbar.scope.text().startswith("Searching in Errors · ")
    assert "Nothing matches “rocket” in Errors." in window.empty_hint.text()

    toolbar.scope.linkActivated.emit("clear")  # the "Clear" link
    assert toolbar.search.text() == ""
    qtbot.waitUntil(lambda: not toolbar.scope.isVisible(), timeout=WAIT)

    window.sidebar.select_view("all")
    toolbar.search.setText("coffee")
    qtbot.waitUntil(lambda: shown_names(window) == {"coffee.jpg"}, timeout=WAIT)
    qtbot.keyClick(toolbar.search, Qt.Key.Key_Escape)
    assert toolbar.search.text() == ""
    qtbot.waitUntil(lambda: loaded(window, 3), timeout=WAIT)


def test_the_count_says_how_many_are_selected(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "Album", PHOTOS)
    qtbot.waitUntil(lambda: window.toolbar.count.text().startswith("3 items"), timeout=WAIT)
    window.gallery.selectAll()
    assert window.toolbar.count.text() == "3 items · 3 selected"
    window.gallery.select_item(item_id(window, "rocket.jpg"))
    assert window.toolbar.count.text() == "3 items"


def test_every_shortcut_is_in_a_menu_and_help_has_about_keys_and_welcome(
    qtbot: QtBot, open_window: object
) -> None:
    window = open_window()  # type: ignore[operator]
    in_menus: set[str] = set()
    by_keys: dict[str, set[str]] = {}
    for menu in window.menuBar().findChildren(QMenu) + window.findChildren(QMenu):
        for action in menu.actions():
            if not action.shortcut().isEmpty():
                in_menus.add(action.shortcut().toString())
                by_keys.setdefault(action.shortcut().toString(), set()).add(action.text())
    twice = {keys: texts for keys, texts in by_keys.items() if len(texts) > 1}
    assert twice == {}  # an ambiguous shortcut does nothing at all
    everywhere: set[str] = set()
    from PySide6.QtGui import QAction, QShortcut

    for action in window.findChildren(QAction):
        if not action.shortcut().isEmpty() and action.isVisible():
            everywhere.add(action.shortcut().toString())
    for shortcut in window.findChildren(QShortcut):
        everywhere.add(shortcut.key().toString())
    assert "Ctrl+S" in in_menus
    assert everywhere <= in_menus

    help_menu = next(
        a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Help"
    )
    texts = [a.text() for a in help_menu.actions()]
    assert {"About Captionist", "Keyboard shortcuts", "Welcome screen…"} <= set(texts)

    listed = dict(window.extras.shortcuts())
    assert listed["Item → Save caption"] == QKeySequence("Ctrl+S").toString(
        QKeySequence.SequenceFormat.NativeText
    )
    assert listed["Search box → Clear the search"] == "Esc"
    assert "Edit → Undo" in listed
    window.extras.show_keys()
    keys = message_box(window, "keyboard_shortcuts")
    assert "Remove from library" in keys.text()
    keys.close()
    window.extras.show_about()
    about = message_box(window, "about")
    assert "Captionist" in about.text()
    about.close()

    window.extras.open_welcome()
    assert window.extras.welcome is not None and window.extras.welcome.isVisible()
    window.extras.welcome.close()


def test_scan_summary_says_what_happened_or_that_nothing_did() -> None:
    assert scan_summary("/p", ScanReport(unchanged=14)) == (
        "/p: nothing new; the library was already up to date (14 items)"
    )
    report = ScanReport(new=2, missing=1)
    report.add_error("/p/x.jpg", "unreadable")
    assert scan_summary("/p", report) == "/p: 2 new, 1 missing, 1 file could not be read"


def test_add_folder_opens_in_pictures_or_home(
    qtbot: QtBot, open_window: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QFileDialog

    seen: list[str] = []

    def fake(_parent: object, _title: str, start: str = "") -> str:
        seen.append(start)
        return ""

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(fake))
    window = open_window()  # type: ignore[operator]
    window.choose_folder()
    assert seen and seen[0]
    assert Path(seen[0]).is_dir()


def test_settings_remove_asks_the_same_question_and_can_be_undone(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "photos", {"rocket.jpg": "rocket"})
    asked: list[str] = []
    window.folders.confirm = lambda question, _details, yes: (asked.append(question), yes())
    window.extras.open_settings("Library")
    dialog = window.extras.settings_dialog
    page = dialog.library_page
    qtbot.waitUntil(lambda: page.folders.count() == 1, timeout=WAIT)
    page.folders.setCurrentRow(0)

    page.remove_button.click()

    qtbot.waitUntil(lambda: page.folders.count() == 0, timeout=WAIT)
    assert asked == ["Remove “photos” and its 1 item from the library?"]
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 0, timeout=WAIT)
    window.undo_stack.undo()
    qtbot.waitUntil(lambda: page.folders.count() == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: loaded(window, 1), timeout=WAIT)
    dialog.close()
