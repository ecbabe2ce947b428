"""The details panel offscreen on a real library: real photos and a real video
scanned into a real SQLite database, captions written through the caption store
(and, for the video, through the caption worker's own prepare/store path)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QUndoStack
from pytestqt.qtbot import QtBot

from app.core.captioning.prepare import prepare
from app.core.captioning.store import Provenance, store_caption
from app.core.captions import CaptionStore
from app.core.item_details import item_details
from app.core.jobs import JobQueue
from app.core.library.library import Library
from app.core.storage.db import Database
from app.services.background import Background
from app.ui.details import video_player as video_player
from app.ui.details.caption_commands import CaptionEdits, RemoveItemsCommand
from app.ui.details.panel import EMPTY_TEXT, GONE_TEXT, DetailsPanel
from app.ui.details.text import clock_text
from models.answer import CaptionAnswer
from tests.caption_support import store_model_caption
from tests.media_factory import write_photo, write_truncated, write_video

WAIT_MS = 10_000
MODEL_WORDS = "an astronaut in a white suit in front of a flag"


@pytest.fixture
def background() -> Iterator[Background]:
    pool = Background()
    yield pool
    pool.wait(5000)


@pytest.fixture
def stack() -> QUndoStack:
    return QUndoStack()


@pytest.fixture
def edits(db: Database, background: Background) -> CaptionEdits:
    return CaptionEdits(db, background)


@pytest.fixture
def panel(
    qtbot: QtBot,
    db: Database,
    background: Background,
    edits: CaptionEdits,
    stack: QUndoStack,
    tmp_path: Path,
) -> Iterator[DetailsPanel]:
    widget = DetailsPanel(db, background, edits, stack, cache_dir=tmp_path / "cache")
    qtbot.addWidget(widget)
    widget.resize(380, 900)
    widget.show()
    yield widget
    qtbot.waitUntil(lambda: edits.pending() == 0, timeout=WAIT_MS)
    widget.shutdown()


def scan(library: Library, folder: Path) -> dict[str, int]:
    root = library.add_root(folder)
    library.scan(root.id)
    with library.db.read() as conn:
        return dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())


def camera_photo(path: Path) -> Path:
    """A real photo with the EXIF a camera writes: make, model, time, aperture."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS R6"
    sub = exif.get_ifd(0x8769)
    sub[36867] = "2024:05:03 10:04:00"  # DateTimeOriginal
    sub[33437] = 2.8  # FNumber
    return write_photo(path, "astronaut", exif=exif.tobytes())


@pytest.fixture
def photo(library: Library, photo_dir: Path, db: Database) -> int:
    camera_photo(photo_dir / "IMG_001.jpg")
    item_id = scan(library, photo_dir)["IMG_001.jpg"]
    store_model_caption(
        db, item_id, MODEL_WORDS, ["astronaut", "flag"], model_id="smolvlm-256m", prompt_id="short"
    )
    return item_id


def shown(qtbot: QtBot, panel: DetailsPanel, item_id: int, moment: float | None = None) -> None:
    panel.show_item(item_id, moment)
    qtbot.waitUntil(lambda: (d := panel.details()) is not None and d.id == item_id, timeout=WAIT_MS)


def current(db: Database, item_id: int) -> tuple[str, list[str], str] | None:
    caption = CaptionStore(db).current(item_id)
    return (caption.text, list(caption.tags), caption.source) if caption else None


def test_empty_state_until_an_item_is_chosen(panel: DetailsPanel) -> None:
    panel.show_item(None)
    assert panel.showing_empty() and panel.empty_label.text() == EMPTY_TEXT


def test_photo_shows_caption_tags_provenance_exif_and_preview(
    qtbot: QtBot, panel: DetailsPanel, photo: int
) -> None:
    shown(qtbot, panel, photo)

    assert not panel.showing_empty()
    assert panel.title.text() == "IMG_001.jpg"
    assert "512 × 512" in panel.meta.text() and "KB" in panel.meta.text()
    assert panel.editor.text() == MODEL_WORDS
    assert panel.chips.chip_texts() == ["astronaut", "flag"]
    provenance = panel.editor.provenance.text()
    assert provenance.startswith("AI · smolvlm-256m · prompt short · adapter — · ")
    assert provenance.endswith("needs review")
    assert panel.editor.accept_button.isVisibleTo(panel)
    assert not panel.editor.save_button.isEnabled()  # nothing typed yet
    rows = dict(panel.exif.rows())
    assert rows["Camera"] == "Canon EOS R6"
    assert rows["Taken"] == "3 May 2024 10:04"
    assert rows["Aperture"] == "f/2.8"
    assert [e.version.text for e in panel.history.entries()] == [MODEL_WORDS]
    assert not panel.moments.isVisibleTo(panel)
    assert not panel.notice.isVisibleTo(panel)
    # The preview arrives later (decoded off the GUI thread), as wide as the panel.
    qtbot.waitUntil(lambda: panel.preview.pixmap() is not None, timeout=WAIT_MS)
    pixmap = panel.preview.pixmap()
    assert pixmap is not None and pixmap.width() == pixmap.height() == 512
    assert panel.preview.height() == panel.preview.width()  # a square photo, full width


def test_save_records_a_correction_then_undo_and_redo(
    qtbot: QtBot, panel: DetailsPanel, photo: int, db: Database, stack: QUndoStack
) -> None:
    shown(qtbot, panel, photo)
    panel.editor.editor.setPlainText("Eileen Collins, NASA astronaut, 1992")
    assert panel.editor.save_button.isEnabled()
    panel.editor.editor.setFocus()
    qtbot.keyClick(panel.editor.editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)

    qtbot.waitUntil(lambda: current(db, photo)[2] == "user", timeout=WAIT_MS)
    assert current(db, photo) == (
        "Eileen Collins, NASA astronaut, 1992",
        ["astronaut", "flag"],
        "user",
    )
    [pair] = CaptionStore(db).corrections()
    assert (pair.model_caption.text, pair.user_caption.text) == (
        MODEL_WORDS,
        "Eileen Collins, NASA astronaut, 1992",
    )
    qtbot.waitUntil(lambda: panel.editor.provenance.text().startswith("By you · "), timeout=WAIT_MS)
    assert not panel.editor.accept_button.isVisibleTo(panel)
    assert stack.undoText() == "Edit caption of IMG_001.jpg (undo keeps the AI's words as yours)"

    stack.undo()
    qtbot.waitUntil(lambda: current(db, photo)[0] == MODEL_WORDS, timeout=WAIT_MS)
    assert current(db, photo)[2] == "user"  # the AI's words, now the user's
    qtbot.waitUntil(lambda: panel.editor.text() == MODEL_WORDS, timeout=WAIT_MS)
    assert len(CaptionStore(db).history(photo)) == 3  # nothing was deleted

    stack.redo()
    qtbot.waitUntil(
        lambda: current(db, photo)[0] == "Eileen Collins, NASA astronaut, 1992", timeout=WAIT_MS
    )
    qtbot.waitUntil(lambda: len(panel.history.entries()) == 4, timeout=WAIT_MS)


def test_unsaved_typing_survives_a_refresh_of_the_same_item(
    qtbot: QtBot, panel: DetailsPanel, photo: int, db: Database
) -> None:
    shown(qtbot, panel, photo)
    panel.editor.editor.setPlainText("half-typed thought")
    store_model_caption(db, photo, "a newer model caption", model_id="qwen")

    panel.refresh()
    qtbot.waitUntil(lambda: len(panel.history.entries()) == 2, timeout=WAIT_MS)
    assert panel.editor.text() == "half-typed thought"
    assert panel.editor.saved_text() == "a newer model caption"
    panel.editor.revert_button.click()
    assert panel.editor.text() == "a newer model caption"
    assert not panel.editor.save_button.isEnabled()


def test_empty_caption_is_refused_with_a_reason(
    qtbot: QtBot, panel: DetailsPanel, photo: int, stack: QUndoStack
) -> None:
    shown(qtbot, panel, photo)
    panel.editor.editor.setPlainText("   ")
    panel.editor.save_button.click()
    assert stack.count() == 0
    assert "can't be empty" in panel.editor.hint.text() and panel.editor.hint.isVisibleTo(panel)


def test_tag_chips_save_at_once_and_undo(
    qtbot: QtBot, panel: DetailsPanel, photo: int, db: Database, stack: QUndoStack
) -> None:
    shown(qtbot, panel, photo)
    panel.editor.editor.setPlainText("typing that is not saved yet")
    qtbot.keyClicks(panel.chips.input, "moon landing, Flag")
    qtbot.keyClick(panel.chips.input, Qt.Key.Key_Return)
    assert panel.chips.chip_texts() == ["astronaut", "flag", "moon landing"]  # "Flag" is there

    qtbot.waitUntil(
        lambda: current(db, photo)[1] == ["astronaut", "flag", "moon landing"], timeout=WAIT_MS
    )
    assert current(db, photo)[0] == MODEL_WORDS  # the stored words, not the typing
    assert stack.undoText().startswith("Add tag “moon landing” to IMG_001.jpg")

    flag = next(c for c in panel.chips.chips() if c.tag == "flag")
    flag.remove_button.click()
    qtbot.waitUntil(lambda: current(db, photo)[1] == ["astronaut", "moon landing"], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(panel.history.entries()) == 3, timeout=WAIT_MS)
    assert panel.chips.chip_texts() == ["astronaut", "moon landing"]
    assert panel.editor.text() == "typing that is not saved yet"  # survived both refreshes

    stack.undo()
    qtbot.waitUntil(
        lambda: current(db, photo)[1] == ["astronaut", "flag", "moon landing"], timeout=WAIT_MS
    )
    qtbot.waitUntil(lambda: "flag" in panel.chips.chip_texts(), timeout=WAIT_MS)


def test_accept_and_undo(
    qtbot: QtBot, panel: DetailsPanel, photo: int, db: Database, stack: QUndoStack
) -> None:
    shown(qtbot, panel, photo)
    panel.editor.accept_button.click()
    assert stack.undoText() == "Accept caption of IMG_001.jpg"
    qtbot.waitUntil(lambda: not item_details(db, photo).needs_review, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not panel.editor.accept_button.isVisibleTo(panel), timeout=WAIT_MS)
    assert current(db, photo)[2] == "model"  # accepting keeps the AI's caption as is

    stack.undo()
    qtbot.waitUntil(lambda: item_details(db, photo).needs_review, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.editor.accept_button.isVisibleTo(panel), timeout=WAIT_MS)


def test_restore_an_older_version_and_undo(
    qtbot: QtBot, panel: DetailsPanel, photo: int, db: Database, stack: QUndoStack
) -> None:
    CaptionStore(db).add_user_caption(photo, "my first try", ["astronaut"])
    shown(qtbot, panel, photo)
    entries = panel.history.entries()
    assert [e.version.text for e in entries] == ["my first try", MODEL_WORDS]
    assert not entries[0].restore_button.isEnabled()  # the current one

    entries[1].restore_button.click()
    qtbot.waitUntil(lambda: current(db, photo)[0] == MODEL_WORDS, timeout=WAIT_MS)
    assert current(db, photo) == (MODEL_WORDS, ["astronaut", "flag"], "user")
    qtbot.waitUntil(lambda: panel.editor.text() == MODEL_WORDS, timeout=WAIT_MS)
    assert stack.undoText() == "Restore an earlier caption of IMG_001.jpg"

    stack.undo()
    qtbot.waitUntil(lambda: current(db, photo)[0] == "my first try", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.editor.text() == "my first try", timeout=WAIT_MS)


def test_remove_from_library_and_undo(
    qtbot: QtBot,
    panel: DetailsPanel,
    library: Library,
    photo_dir: Path,
    db: Database,
    edits: CaptionEdits,
) -> None:
    write_photo(photo_dir / "a.jpg", "coffee")
    write_photo(photo_dir / "b.jpg", "chelsea")
    write_photo(photo_dir / "gone_before.jpg", "rocket")
    ids = scan(library, photo_dir)
    library.remove_items([ids["gone_before.jpg"]])
    stack = QUndoStack()
    shown(qtbot, panel, ids["a.jpg"])
    assert not panel.notice.isVisibleTo(panel)

    stack.push(RemoveItemsCommand(edits, list(ids.values())))
    assert stack.undoText() == "Remove 3 items from the library"
    with qtbot.waitSignal(edits.settled, timeout=WAIT_MS):
        pass
    states = {n: item_details(db, i).state for n, i in ids.items()}
    assert states == {"a.jpg": "removed", "b.jpg": "removed", "gone_before.jpg": "removed"}
    qtbot.waitUntil(lambda: panel.notice.isVisibleTo(panel), timeout=WAIT_MS)
    assert panel.notice.label.text().startswith("Removed from the library")

    with qtbot.waitSignal(edits.items_changed, timeout=WAIT_MS) as changed:
        stack.undo()
    assert sorted(changed.args[0]) == sorted([ids["a.jpg"], ids["b.jpg"]])
    states = {n: item_details(db, i).state for n, i in ids.items()}
    # Only what this command removed comes back.
    assert states == {"a.jpg": "ok", "b.jpg": "ok", "gone_before.jpg": "removed"}
    qtbot.waitUntil(lambda: not panel.notice.isVisibleTo(panel), timeout=WAIT_MS)


@pytest.fixture
def video(library: Library, photo_dir: Path, db: Database, tmp_path: Path) -> int:
    """A video with scene cuts, keyframed and captioned the way the caption worker
    does it (real keyframe extraction, thumbnails and one stored answer)."""
    write_video(photo_dir / "clip.avi", seconds=6.0, cuts=(2.0, 4.0))
    item_id = scan(library, photo_dir)["clip.avi"]
    job = JobQueue(db).claim_next()
    assert job is not None and job.item_id == item_id
    prepared = prepare(
        item_id,
        str(photo_dir / "clip.avi").encode(),
        "video",
        thumbnails=tmp_path / "thumbs",
        max_side=128,
        max_keyframes=4,
        with_exif_context=False,
    )
    moments = [f"scene at {t:.1f}" for t in prepared.timestamps or []]
    answer = CaptionAnswer("coloured test cards", ["test"], "en", moments)
    assert store_caption(db, job.id, prepared, answer, Provenance("smolvlm-256m", "short"))
    return item_id


def test_video_moments_strip_and_playing_from_a_moment(
    qtbot: QtBot,
    panel: DetailsPanel,
    video: int,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    details = item_details(db, video)
    assert details is not None and len(details.moments) >= 2
    target = details.moments[-1]
    shown(qtbot, panel, video, moment=target.timestamp + 0.1)  # a search hit near it

    assert panel.moments.isVisibleTo(panel)
    tiles = panel.moments.tiles()
    assert [t.time_label.text() for t in tiles] == [
        clock_text(m.timestamp) for m in details.moments
    ]
    assert [t.caption_label.text() for t in tiles] == [m.caption for m in details.moments]
    assert [t.isChecked() for t in tiles] == [m is target for m in details.moments]
    assert "0:06" in panel.meta.text() or "0:05" in panel.meta.text()
    qtbot.waitUntil(
        lambda: tiles[0].thumb.pixmap() is not None and not tiles[0].thumb.pixmap().isNull(),
        timeout=WAIT_MS,
    )
    qtbot.waitUntil(lambda: panel.preview.pixmap() is not None, timeout=WAIT_MS)

    opened: list[QUrl] = []
    monkeypatch.setattr(video_player, "multimedia_available", lambda: False)
    monkeypatch.setattr(
        video_player.QDesktopServices, "openUrl", lambda url: opened.append(url) or True
    )
    second = tiles[1]
    with qtbot.waitSignal(panel.moment_activated, timeout=WAIT_MS) as activated:
        qtbot.mouseClick(second, Qt.MouseButton.LeftButton)
    assert activated.args == [video, second.moment.timestamp]
    assert [u.toLocalFile() for u in opened] == [details.path]
    assert panel.playback is not None and panel.playback.how == "system"
    assert "starts from the beginning" in panel.play_note.text()
    assert panel.play_note.isVisibleTo(panel)
    assert second.isChecked() and not tiles[-1].isChecked()


def test_a_stale_answer_is_dropped(
    qtbot: QtBot, panel: DetailsPanel, library: Library, photo_dir: Path, db: Database
) -> None:
    write_photo(photo_dir / "first.jpg", "coffee")
    write_photo(photo_dir / "second.jpg", "chelsea")
    ids = scan(library, photo_dir)
    store_model_caption(db, ids["first.jpg"], "a cup of coffee")
    store_model_caption(db, ids["second.jpg"], "a cat")

    panel.show_item(ids["first.jpg"])
    panel.show_item(ids["second.jpg"])  # before the first answer could arrive

    qtbot.waitUntil(lambda: panel.stale_dropped == 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.details() is not None, timeout=WAIT_MS)
    assert panel.title.text() == "second.jpg" and panel.editor.text() == "a cat"


def test_unreadable_file_and_failed_caption_show_their_reasons(
    qtbot: QtBot, panel: DetailsPanel, library: Library, photo_dir: Path, db: Database
) -> None:
    full = write_photo(photo_dir / "cut.jpg", "chelsea")
    write_truncated(full, full)
    write_photo(photo_dir / "fine.jpg", "coffee")
    ids = scan(library, photo_dir)
    reason = item_details(db, ids["cut.jpg"]).error
    assert reason

    shown(qtbot, panel, ids["cut.jpg"])
    assert panel.notice.isVisibleTo(panel)
    assert panel.notice.label.text() == "Captionist can't read this photo's file."
    assert panel.notice.detail.text() == reason
    qtbot.waitUntil(lambda: panel.preview.note.startswith("No preview: "), timeout=WAIT_MS)

    queue = JobQueue(db)
    job = queue.claim_next()
    assert job is not None and job.item_id == ids["fine.jpg"]
    queue.finish(job.id, error="the model ran out of memory")
    shown(qtbot, panel, ids["fine.jpg"])
    assert panel.notice.label.text() == (
        "The model ran out of memory on this photo. Close other programs and retry."
    )
    assert panel.editor.provenance.text() == "No caption yet"


def test_a_failed_caption_is_a_sentence_with_details_and_retry(
    qtbot: QtBot, panel: DetailsPanel, library: Library, photo_dir: Path, db: Database
) -> None:
    write_photo(photo_dir / "beach.jpg", "coffee")
    ids = scan(library, photo_dir)
    queue = JobQueue(db)
    job = queue.claim_next()
    assert job is not None
    raw = "llama.cpp failed while captioning (llama_decode returned 1)"
    queue.finish(job.id, error=raw)

    shown(qtbot, panel, ids["beach.jpg"])
    notice = panel.notice
    assert notice.isVisibleTo(panel)
    assert notice.label.text() == (
        "The model ran out of room for this photo. Retry it, or choose a smaller image "
        "size or a model with a larger context in Settings."
    )
    assert raw not in notice.label.text()
    # The raw error is behind the disclosure, once.
    assert notice.details_button.isVisibleTo(panel) and not notice.detail.isVisibleTo(panel)
    notice.details_button.click()
    assert notice.detail.isVisibleTo(panel) and notice.detail.text() == raw
    notice.details_button.click()
    assert not notice.detail.isVisibleTo(panel)

    assert notice.retry_button.isVisibleTo(panel)
    with qtbot.waitSignal(panel.retry_requested) as asked:
        notice.retry_button.click()
    assert asked.args == [ids["beach.jpg"]]
    assert not notice.retry_button.isEnabled()  # until the item is read again

    # Queued again (what the window does with the signal): the notice goes.
    assert library.jobs.retry_failed([ids["beach.jpg"]]) == 1
    panel.refresh()
    qtbot.waitUntil(lambda: not notice.isVisibleTo(panel), timeout=WAIT_MS)


def test_an_item_that_is_gone(qtbot: QtBot, panel: DetailsPanel, photo: int) -> None:
    panel.show_item(photo + 999)
    qtbot.waitUntil(lambda: panel.empty_label.text() == GONE_TEXT, timeout=WAIT_MS)
    assert panel.showing_empty()


def test_first_caption_with_tags_then_undo(
    qtbot: QtBot,
    panel: DetailsPanel,
    library: Library,
    photo_dir: Path,
    db: Database,
    stack: QUndoStack,
) -> None:
    write_photo(photo_dir / "new.jpg", "coffee")
    item = scan(library, photo_dir)["new.jpg"]
    shown(qtbot, panel, item)
    assert panel.editor.provenance.text() == "No caption yet" and panel.editor.text() == ""

    panel.chips.add("coffee")  # no caption to attach it to yet: it waits for Save
    assert stack.count() == 0 and "saved with the caption" in panel.editor.hint.text()
    panel.editor.editor.setPlainText("Espresso in a blue cup")
    panel.editor.save_button.click()
    qtbot.waitUntil(lambda: current(db, item) is not None, timeout=WAIT_MS)
    assert current(db, item) == ("Espresso in a blue cup", ["coffee"], "user")
    assert CaptionStore(db).corrections() == []  # written from scratch: not a correction

    stack.undo()
    qtbot.waitUntil(lambda: CaptionStore(db).history(item) == [], timeout=WAIT_MS)
    qtbot.waitUntil(  # the provenance line, the text and the history refresh separately
        lambda: (
            panel.editor.provenance.text() == "No caption yet"
            and panel.editor.text() == ""
            and panel.history.entries() == []
        ),
        timeout=WAIT_MS,
    )
