"""Caption metadata from the window: an edit in the details panel reaches the sidecar
(and its undo too), "Write caption to file" writes a selection now and says what it
could not, and Settings → Library stores the choice."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from app.core.metadata.xmp import read as read_xmp
from app.core.metadata.xmp import sidecar_path
from app.core.settings import Settings
from app.ui.window.main_window import MainWindow
from tests.caption_support import store_model_caption
from tests.ui.test_main_window import WAIT, item_id, window_with


def written_text(photo: Path) -> str | None:
    found = read_xmp(photo)
    return found.text if found else None


def test_an_edit_and_its_undo_reach_the_sidecar(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window: MainWindow = window_with(qtbot, open_window, tmp_path / "Album", {"r.jpg": "rocket"})
    photo = tmp_path / "Album" / "r.jpg"
    target = item_id(window, "r.jpg")
    store_model_caption(window.db, target, "a tall tower", ["tower"], model_id="m")
    window.gallery.select_item(target)
    panel = window.details.panel
    qtbot.waitUntil(lambda: panel.editor.text() == "a tall tower", timeout=WAIT)
    panel.editor.editor.setPlainText("Saturn V, Apollo 11 — départ")
    panel.editor.save_button.click()
    qtbot.waitUntil(lambda: written_text(photo) == "Saturn V, Apollo 11 — départ", timeout=WAIT)
    found = read_xmp(photo)
    assert found is not None and found.source == "me"
    window.undo_stack.undo()
    qtbot.waitUntil(lambda: written_text(photo) == "a tall tower", timeout=WAIT)


def test_write_caption_to_file_for_a_selection(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window: MainWindow = window_with(
        qtbot, open_window, tmp_path / "Album", {"a.jpg": "astronaut", "b.jpg": "coffee"}
    )
    Settings(window.db).set("metadata_write", "off")  # the user asks anyway: a sidecar
    ids = [item_id(window, "a.jpg"), item_id(window, "b.jpg")]
    store_model_caption(window.db, ids[0], "An astronaut smiles.", ["astronaut"], model_id="m")
    store_model_caption(window.db, ids[1], "A cup of coffee.", ["coffee"], model_id="m")
    sidecar_path(tmp_path / "Album" / "b.jpg").mkdir()  # b cannot take one
    window.gallery.selectAll()
    qtbot.waitUntil(lambda: sorted(window.gallery.selected_ids()) == sorted(ids), timeout=WAIT)
    messages: list[str] = []
    window.items.failed.connect(messages.append)
    window.items.write_out.trigger()
    qtbot.waitUntil(lambda: bool(messages), timeout=WAIT)
    assert messages[0].startswith(
        "Wrote captions to 1 file; 1 could not be written: b.jpg: could not write"
    )
    assert written_text(tmp_path / "Album" / "a.jpg") == "An astronaut smiles."


def test_settings_store_the_write_back_choice(qtbot: QtBot, open_window: object) -> None:
    window: MainWindow = open_window()  # type: ignore[operator]
    window.extras.open_settings()
    dialog = window.extras.settings_dialog
    page = dialog.library_page
    qtbot.waitUntil(lambda: page.metadata_combo.isEnabled(), timeout=WAIT)
    assert page.metadata_combo.currentData() == "sidecar"  # the default
    page.metadata_combo.setCurrentIndex(page.metadata_combo.findData("embed"))
    page.import_check.setChecked(False)
    settings = Settings(window.db)
    qtbot.waitUntil(lambda: settings.read().metadata_write == "embed", timeout=WAIT)
    qtbot.waitUntil(lambda: settings.read().metadata_import is False, timeout=WAIT)
    dialog.close()
