"""File → Export captions… against a real window and library: the view, the selection
and the whole library exported and read back, Cancel leaving no jsonl, an existing file
asked about and kept on No, kept caption files overwritten on request, errors said in
the dialog, and the choices remembered."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from app.core.captions import CaptionStore
from app.core.export.formats import Format, Images, TagPlace, Which
from app.core.export.run import ExportSummary
from app.core.export.selection import Selection
from app.core.storage.db import Database
from app.ui.export.dialog import ExportDialog
from app.ui.export.words import FORMAT_LABELS, format_label, summary_lines
from app.ui.window.main_window import MainWindow
from app.ui.words import counted
from tests.caption_support import store_model_caption
from tests.media_factory import write_photo
from tests.ui.test_main_window import WAIT, item_id, loaded, window_with

PHOTOS = {"astronaut.jpg": "astronaut", "coffee.jpg": "coffee", "rocket.jpg": "rocket"}
CAPTIONS = {"astronaut.jpg": "an astronaut", "coffee.jpg": "my coffee", "rocket.jpg": "a rocket"}


def captioned_window(
    qtbot: QtBot, open_window: object, folder: Path, odd_name: bytes | None = None
) -> MainWindow:
    """Three photos: the astronaut's AI caption accepted, the coffee's written by the
    user, the rocket's AI caption still needing review; and `odd_name`, uncaptioned."""
    if odd_name is None:
        window = window_with(qtbot, open_window, folder, PHOTOS)
    else:
        write_photo(Path(os.fsdecode(os.fsencode(folder) + b"/" + odd_name)), "coffee")
        for name, picture in PHOTOS.items():
            write_photo(folder / name, picture)
        window = open_window()  # type: ignore[operator]
        window.add_folder(str(folder))
        qtbot.waitUntil(lambda: loaded(window, len(PHOTOS) + 1), timeout=WAIT)
    store = CaptionStore(window.db)
    astronaut = item_id(window, "astronaut.jpg")
    store_model_caption(window.db, astronaut, "an astronaut", ["space", "suit"])
    store.accept([astronaut])
    store.add_user_caption(item_id(window, "coffee.jpg"), "my coffee", ["cup"])
    store_model_caption(window.db, item_id(window, "rocket.jpg"), "a rocket", ["launch"])
    return window


def open_dialog(window: MainWindow) -> ExportDialog:
    """Through the menu command, as the user opens it."""
    action = next(a for a in window.findChildren(QAction) if a.text() == "Export captions…")
    action.trigger()
    dialog = window.extras.export_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def export(qtbot: QtBot, dialog: ExportDialog, click: Callable[[], None] | None = None) -> None:
    with qtbot.waitSignal(dialog.runner.finished, timeout=WAIT):
        (click or dialog.export_button.click)()
    assert not dialog.runner.running


def choose(dialog: ExportDialog, fmt: Format, out: Path | None, **options: object) -> None:
    form = dialog.form
    form.format_combo.setCurrentIndex(form.format_combo.findData(fmt))
    if out is None:
        form.beside.setChecked(True)
    else:
        form.to_path.setChecked(True)
        form.path_edit.setText(str(out))
    combos = {
        "which": form.which_combo,
        "tags": form.tags_combo,
        "images": form.images_combo,
    }
    for name, value in options.items():
        if name in combos:
            combos[name].setCurrentIndex(combos[name].findData(value))
        elif name == "trigger":
            form.trigger_edit.setText(str(value))
        elif name == "include_review":
            form.review_box.setChecked(bool(value))


def jsonl(path: Path) -> dict[str, str]:
    lines = path.read_text("utf-8").splitlines()
    return {
        json.loads(line)["file_name"].rsplit("/", 1)[-1]: json.loads(line)["text"] for line in lines
    }


def test_whole_library_to_jsonl_through_the_menu(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = captioned_window(qtbot, open_window, tmp_path / "photos")
    dialog = open_dialog(window)
    qtbot.waitUntil(lambda: "3 items" in dialog.library_radio.text(), timeout=WAIT)
    selected = len(window.gallery.selected_ids())  # the first item, as the window opens
    assert dialog.selection_radio.text() == f"The selection ({counted(selected, 'item')})"
    assert dialog.selection_radio.isEnabled() == bool(selected)
    dialog.library_radio.setChecked(True)
    out = tmp_path / "set"
    choose(dialog, Format.JSONL, out)
    assert not dialog.form.beside.isEnabled()  # one file: never beside the images
    export(qtbot, dialog)

    assert jsonl(out / "metadata.jsonl") == CAPTIONS
    assert dialog.status.text().startswith(f"Exported 3 captions to {out / 'metadata.jsonl'}")
    assert dialog.reveal_button.isVisible() and not dialog.overwrite_button.isVisible()
    revealed: list[str] = []
    dialog.reveal = lambda path: revealed.append(path) or True
    dialog.reveal_button.click()
    assert revealed == [str(out / "metadata.jsonl")]


def test_selection_to_txt_with_trigger_and_tags(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = captioned_window(qtbot, open_window, tmp_path / "photos")
    window.gallery.clearSelection()
    model, selection = window.gallery_model, window.gallery.selectionModel()
    for name in ("astronaut.jpg", "coffee.jpg"):
        selection.select(model.index_of(item_id(window, name)), selection.SelectionFlag.Select)
    dialog = open_dialog(window)
    assert dialog.selection_radio.isEnabled()
    assert dialog.selection_radio.text() == "The selection (2 items)"
    dialog.selection_radio.setChecked(True)
    out = tmp_path / "kohya"
    choose(dialog, Format.TXT, out, tags=TagPlace.AFTER, trigger="sks")
    export(qtbot, dialog)

    assert sorted(os.listdir(out)) == ["astronaut.txt", "coffee.txt"]
    assert (out / "astronaut.txt").read_text("utf-8") == "sks, an astronaut, space, suit\n"
    assert (out / "coffee.txt").read_text("utf-8") == "sks, my coffee, cup\n"
    assert dialog.status.text().startswith("Exported 2 captions in 2 files.")


def test_current_view_with_a_search_and_which_caption(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = captioned_window(qtbot, open_window, tmp_path / "photos")
    window.toolbar.search.setText("coffee OR rocket")
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 2, timeout=WAIT)
    dialog = open_dialog(window)
    assert "matching “coffee OR rocket” (2 items)" in dialog.view_radio.text()
    assert dialog.view_radio.isChecked()
    out = tmp_path / "view.jsonl"
    choose(dialog, Format.JSONL, out)
    export(qtbot, dialog)
    assert jsonl(out) == {"coffee.jpg": "my coffee", "rocket.jpg": "a rocket"}

    # Only captions the user wrote or accepted: the rocket's needs review.
    window.toolbar.search.clear()
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 3, timeout=WAIT)
    dialog.refresh_scope()
    assert dialog.view_radio.text() == "The current view: everything (3 items)"
    assert not dialog.form.review_box.isEnabled()
    choose(dialog, Format.JSONL, tmp_path / "accepted.jsonl", which=Which.ACCEPTED)
    assert dialog.form.review_box.isEnabled()
    export(qtbot, dialog)
    assert set(jsonl(tmp_path / "accepted.jsonl")) == {"astronaut.jpg", "coffee.jpg"}
    choose(dialog, Format.JSONL, tmp_path / "review.jsonl", include_review=True)
    export(qtbot, dialog)
    assert set(jsonl(tmp_path / "review.jsonl")) == set(PHOTOS)


def test_cancel_leaves_no_jsonl(qtbot: QtBot, open_window: object, tmp_path: Path) -> None:
    window = captioned_window(qtbot, open_window, tmp_path / "photos")
    dialog = open_dialog(window)
    out = tmp_path / "set"
    choose(dialog, Format.JSONL, out, images=Images.COPY)
    # Hold the export before its first item, so Cancel lands while it runs.
    gate = threading.Event()
    real = dialog._selection

    def held() -> Callable[[Database], Selection]:
        pick = real()

        def wait_then_pick(db: Database) -> Selection:
            gate.wait(10)
            return pick(db)

        return wait_then_pick

    dialog._selection = held  # type: ignore[method-assign]
    dialog.export_button.click()
    assert dialog.runner.running and dialog.progress.isVisible()
    assert dialog.close_button.text() == "Cancel" and not dialog.form.isEnabled()
    with qtbot.waitSignal(dialog.runner.finished, timeout=WAIT):
        dialog.reject()  # Esc while exporting cancels, does not close
        assert dialog.isVisible()
        gate.set()

    assert dialog.status.text() == "Export cancelled: nothing was written."
    assert not (out / "metadata.jsonl").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".captionist-part")]
    assert dialog.close_button.text() == "Close" and dialog.form.isEnabled()
    dialog.reject()
    assert not dialog.isVisible()


def test_an_existing_file_is_asked_about_and_no_leaves_it(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = captioned_window(qtbot, open_window, tmp_path / "photos")
    dialog = open_dialog(window)
    dialog.library_radio.setChecked(True)
    target = tmp_path / "captions.csv"
    target.write_text("mine, do not touch\n", "utf-8")
    choose(dialog, Format.CSV, target)
    dialog.export_button.click()  # the real question box
    box = dialog.last_box
    assert box is not None and box.isVisible()
    assert box.text() == f"{target} exists. Overwrite it?"
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.wait(200)
    assert not dialog.runner.running
    assert target.read_text("utf-8") == "mine, do not touch\n"
    assert "Not exported yet" in dialog.status.text()

    asked: list[str] = []

    def yes(question: str, _details: str, on_yes: Callable[[], None]) -> None:
        asked.append(question)
        on_yes()

    dialog.confirm = yes
    export(qtbot, dialog)
    assert asked == [f"{target} exists. Overwrite it?"]
    rows = target.read_text("utf-8").splitlines()
    assert rows[0].startswith("path,moment,caption") and len(rows) == 4


def test_kept_caption_files_are_overwritten_on_request(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    # A name that is not UTF-8 (Linux names are bytes) is exported with its own bytes.
    window = captioned_window(qtbot, open_window, tmp_path / "photos", b"caf\xe9.jpg")
    odd = os.fsencode(tmp_path / "photos") + b"/caf\xe9.jpg"
    with window.db.read() as conn:
        odd_id = conn.exec_driver_sql(
            "SELECT id FROM media_items WHERE path = ?", (odd,)
        ).scalar_one()
    CaptionStore(window.db).add_user_caption(odd_id, "un café")
    dialog = open_dialog(window)
    dialog.library_radio.setChecked(True)
    out = tmp_path / "kohya"
    choose(dialog, Format.CAPTION, out)
    export(qtbot, dialog)
    assert sorted(os.listdir(os.fsencode(out))) == [
        b"astronaut.caption",
        b"caf\xe9.caption",
        b"coffee.caption",
        b"rocket.caption",
    ]
    assert not dialog.overwrite_button.isVisible()

    (out / "coffee.caption").write_text("edited by hand\n", "utf-8")
    export(qtbot, dialog)
    assert (out / "coffee.caption").read_text("utf-8") == "edited by hand\n"
    text = dialog.status.text()
    assert "Kept 4 existing files, not overwritten:" in text
    assert str(out / "coffee.caption") in text and "caf\ufffd.caption" in text
    assert dialog.overwrite_button.isVisible()
    assert dialog.overwrite_button.text() == "Overwrite the 4 kept files"

    export(qtbot, dialog, dialog.overwrite_button.click)
    assert (out / "coffee.caption").read_text("utf-8") == "my coffee\n"
    assert dialog.status.text().startswith("Exported 4 captions in 4 files.")
    assert not dialog.overwrite_button.isVisible()


def test_errors_are_said_in_the_dialog(qtbot: QtBot, open_window: object, tmp_path: Path) -> None:
    window = captioned_window(qtbot, open_window, tmp_path / "photos")
    dialog = open_dialog(window)
    dialog.library_radio.setChecked(True)
    choose(dialog, Format.JSONL, None)
    dialog.form.path_edit.clear()
    dialog.export_button.click()
    assert dialog.status.text() == "Choose a folder or a file to write to."
    dialog.form.path_edit.setText("relative/set")
    dialog.export_button.click()
    assert dialog.status.text() == "Give the full path of 'relative/set', or choose it with Choose…"
    assert not dialog.runner.running

    # A file where the output folder should be: no folder can be made under it.
    blocker = tmp_path / "blocker"
    blocker.write_text("a file", "utf-8")
    choose(dialog, Format.JSONL, blocker / "set")
    export(qtbot, dialog)
    assert dialog.status.text().startswith("Could not export: ")
    assert "blocker" in dialog.status.text()
    assert dialog.last_summary is None and dialog.form.isEnabled()

    choose(dialog, Format.TXT, blocker / "kohya")
    export(qtbot, dialog)
    text = dialog.status.text()
    assert "Could not write 3 files:" in text and "Not a directory" in text
    assert blocker.read_text("utf-8") == "a file"


def test_choices_are_remembered_and_the_shortcut_is_its_own(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = captioned_window(qtbot, open_window, tmp_path / "photos")
    dialog = open_dialog(window)
    out = tmp_path / "set"
    choose(dialog, Format.JSONL, out, tags=TagPlace.BEFORE, trigger="ohwx", which=Which.MINE)
    dialog.form.separator_edit.setText(" | ")
    export(qtbot, dialog)
    assert jsonl(out / "metadata.jsonl") == {"coffee.jpg": "ohwx | cup | my coffee"}
    dialog.close()
    window.extras.export_dialog = None
    dialog.deleteLater()

    again = open_dialog(window).form.choices()
    assert again.format is Format.JSONL and again.out == str(out)
    assert (again.tags, again.trigger, again.which) == (TagPlace.BEFORE, "ohwx", Which.MINE)
    assert again.separator == " | " and not again.beside

    asked: list[tuple[Format, str]] = []
    chosen = str(tmp_path / "chosen.jsonl")
    form = open_dialog(window).form
    form.choose_path = lambda fmt, current: asked.append((fmt, current)) or chosen
    form.choose_button.click()  # Choose… without a native dialog
    assert asked == [(Format.JSONL, str(out))] and form.path_edit.text() == chosen

    keys = QKeySequence("Ctrl+Shift+E").toString(QKeySequence.SequenceFormat.NativeText)
    listed = window.extras.shortcuts()
    assert ("File → Export captions", keys) in listed
    assert [what for what, k in listed if k == keys] == ["File → Export captions"]


def test_every_core_format_is_offered_with_a_name() -> None:
    assert set(FORMAT_LABELS) >= {str(f) for f in Format}
    from enum import StrEnum

    class Later(StrEnum):
        PARQUET = "parquet"

    assert format_label(Later.PARQUET) == "parquet"  # type: ignore[arg-type]


def test_summary_words() -> None:
    cancelled = ExportSummary("txt", exported=2, files=2, cancelled=True)
    assert summary_lines(cancelled) == [
        "Export cancelled: the 2 files written before it stopped stay."
    ]
    copied = ExportSummary("jsonl", images=2, cancelled=True)
    assert summary_lines(copied) == [
        "Export cancelled: no captions were written.",
        "2 images copied or linked.",
    ]
    nothing = ExportSummary("txt")
    assert summary_lines(nothing)[0].startswith("Nothing to export")
    many = ExportSummary(
        "txt",
        exported=1,
        files=1,
        renamed=2,
        kept=7,
        kept_paths=[f"/o/{n}.txt" for n in range(7)],
        failed=[("/o/x.txt", "Permission denied")],
    )
    lines = summary_lines(many)
    assert lines[0] == "Exported 1 caption in 1 file."
    assert "2 names made unique (another file had it)." in lines
    assert "    and 2 more" in lines
    assert lines[-1] == "    /o/x.txt: Permission denied"


def test_alt_text_page_and_video_frames_from_the_dialog(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    from tests.core.test_export_web_video import CUTS, MOMENTS, caption_moments
    from tests.media_factory import write_video

    window = captioned_window(qtbot, open_window, tmp_path / "photos")
    window.add_folder(
        str(write_video(tmp_path / "clips" / "scenes.mp4", seconds=3.0, cuts=CUTS).parent)
    )
    qtbot.waitUntil(lambda: loaded(window, len(PHOTOS) + 1), timeout=WAIT)
    caption_moments(window.db, item_id(window, "scenes.mp4"), MOMENTS)
    dialog = open_dialog(window)
    dialog.library_radio.setChecked(True)
    form = dialog.form

    choose(dialog, Format.HTML, tmp_path / "web")
    assert not form.tags_combo.isEnabled() and not form.frames_box.isEnabled()
    export(qtbot, dialog)
    page = (tmp_path / "web" / "alt-text.html").read_text("utf-8")
    assert 'alt="an astronaut"' in page and "<video" in page

    choose(dialog, Format.TXT, tmp_path / "kohya")
    assert form.frames_box.isEnabled()
    form.frames_box.setChecked(True)
    export(qtbot, dialog)
    frames = sorted((tmp_path / "kohya").rglob("scenes_*.jpg"))
    assert len(frames) == len(MOMENTS)
    assert [f.with_suffix(".txt").read_text("utf-8").strip() for f in frames] == list(
        MOMENTS.values()
    )
    assert "3 video frames written as images." in dialog.status.text()
    form.beside.setChecked(True)
    assert not form.frames_box.isEnabled()  # frames go under a folder, never beside videos
