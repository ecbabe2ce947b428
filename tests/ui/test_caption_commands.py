"""Undoable edits on a real library database: the commands, their order, their
texts, and what happens when a write fails."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QUndoStack
from pytestqt.qtbot import QtBot

from app.core.captions import CaptionStore
from app.core.gallery import GalleryQuery, gallery_ids
from app.core.library.library import Library
from app.core.storage.db import Database
from app.services.background import Background
from app.ui.details.caption_commands import (
    AcceptCommand,
    CaptionEdits,
    EditCaptionCommand,
    RemoveItemsCommand,
    RestoreVersionCommand,
)
from tests.caption_support import store_model_caption
from tests.media_factory import write_photo

WAIT_MS = 10_000


@pytest.fixture
def background() -> Iterator[Background]:
    pool = Background()
    yield pool
    pool.wait(5000)


@pytest.fixture
def edits(db: Database, background: Background) -> CaptionEdits:
    return CaptionEdits(db, background)


@pytest.fixture
def items(library: Library, photo_dir: Path) -> list[int]:
    for name, photo in (("IMG_001.jpg", "astronaut"), ("IMG_002.jpg", "coffee")):
        write_photo(photo_dir / name, photo)
    root = library.add_root(photo_dir)
    library.scan(root.id)
    with library.db.read() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT id FROM media_items ORDER BY name")]


def settle(qtbot: QtBot, edits: CaptionEdits) -> None:
    qtbot.waitUntil(lambda: edits.pending() == 0, timeout=WAIT_MS)


def words(db: Database, item_id: int) -> str | None:
    caption = CaptionStore(db).current(item_id)
    return caption.text if caption else None


def test_commands_name_themselves_for_the_edit_menu(edits: CaptionEdits) -> None:
    assert EditCaptionCommand(edits, 1, "x", [], name="IMG_001.jpg").text() == (
        "Edit caption of IMG_001.jpg"
    )
    assert EditCaptionCommand(edits, 1, "x", [], name="a.jpg", replaces_model=True).text() == (
        "Edit caption of a.jpg (undo keeps the AI's words as yours)"
    )
    assert AcceptCommand(edits, list(range(12))).text() == "Accept 12 captions"
    assert AcceptCommand(edits, [7], name="IMG_001.jpg").text() == "Accept caption of IMG_001.jpg"
    assert AcceptCommand(edits, [7]).text() == "Accept 1 caption"
    assert RemoveItemsCommand(edits, [1, 2, 3]).text() == "Remove 3 items from the library"
    assert RemoveItemsCommand(edits, [1], name="a.jpg").text() == "Remove a.jpg from the library"
    assert RestoreVersionCommand(edits, 1, 2, name="a.jpg").text() == (
        "Restore an earlier caption of a.jpg"
    )


def test_writes_run_off_the_gui_thread_in_order(
    qtbot: QtBot, db: Database, edits: CaptionEdits, items: list[int]
) -> None:
    """Edit, undo, redo, undo pushed without waiting: each write waits for the one
    before, so the end state is the last thing asked for."""
    item = items[0]
    store = CaptionStore(db)
    store_model_caption(db, item, "model words", ["a"], model_id="m")
    threads: list[int] = []
    edits.submit(lambda: threads.append(threading.get_ident()) or [], "probe")
    stack = QUndoStack()
    stack.push(EditCaptionCommand(edits, item, "first", ["a"], name="IMG_001.jpg"))
    stack.push(EditCaptionCommand(edits, item, "second", ["b"], name="IMG_001.jpg"))
    stack.undo()
    stack.undo()
    stack.redo()
    assert edits.pending() >= 5
    settle(qtbot, edits)

    assert threads and threads[0] != threading.get_ident()
    history = [c.text for c in reversed(store.history(item))]
    # model, first, second, (undo second) first, (undo first) model, (redo) first
    assert history == ["model words", "first", "second", "first", "model words", "first"]
    assert words(db, item) == "first"


def test_undo_of_the_first_caption_ever_withdraws_it(
    qtbot: QtBot, db: Database, edits: CaptionEdits, items: list[int]
) -> None:
    """No previous words to put back, and an empty user caption would outrank every
    later model caption: the caption the edit wrote goes (the item is uncaptioned
    again and the model's caption, when it comes, is shown)."""
    item = items[0]
    stack = QUndoStack()
    stack.push(EditCaptionCommand(edits, item, "written from scratch", ["x"], name="IMG_001.jpg"))
    settle(qtbot, edits)
    assert words(db, item) == "written from scratch"
    assert item not in gallery_ids(db, GalleryQuery(view="uncaptioned"))

    stack.undo()
    settle(qtbot, edits)
    assert CaptionStore(db).history(item) == []
    assert item in gallery_ids(db, GalleryQuery(view="uncaptioned"))
    store_model_caption(db, item, "the model's caption")
    assert words(db, item) == "the model's caption"

    stack.redo()
    settle(qtbot, edits)
    assert words(db, item) == "written from scratch"


def test_undo_of_a_first_caption_something_was_built_on_records_no_words(
    qtbot: QtBot, db: Database, edits: CaptionEdits, items: list[int]
) -> None:
    item = items[0]
    stack = QUndoStack()
    stack.push(EditCaptionCommand(edits, item, "draft", [], name="IMG_001.jpg"))
    settle(qtbot, edits)
    CaptionStore(db).add_user_caption(item, "edited elsewhere")  # built on "draft"

    stack.undo()
    settle(qtbot, edits)
    texts = [c.text for c in CaptionStore(db).history(item)]
    assert texts == ["", "edited elsewhere", "draft"]  # nothing lost


def test_accept_and_its_undo_across_items(
    qtbot: QtBot, db: Database, edits: CaptionEdits, items: list[int]
) -> None:
    store = CaptionStore(db)
    first, second = items
    store_model_caption(db, first, "an astronaut")
    store.add_user_caption(second, "mine already")  # needs no review: left alone
    stack = QUndoStack()

    with qtbot.waitSignal(edits.items_changed, timeout=WAIT_MS) as changed:
        stack.push(AcceptCommand(edits, items))
    assert changed.args == [[first]]
    assert gallery_ids(db, GalleryQuery(view="needs_review")) == []

    with qtbot.waitSignal(edits.items_changed, timeout=WAIT_MS) as changed:
        stack.undo()
    assert changed.args == [[first]]
    assert gallery_ids(db, GalleryQuery(view="needs_review")) == [first]


def test_a_failed_write_is_reported_and_its_undo_does_nothing(
    qtbot: QtBot, db: Database, edits: CaptionEdits, items: list[int]
) -> None:
    first, second = items
    store = CaptionStore(db)
    store_model_caption(db, first, "astronaut")
    other = store_model_caption(db, second, "coffee")
    stack = QUndoStack()

    with qtbot.waitSignal(edits.failed, timeout=WAIT_MS) as failed:
        stack.push(RestoreVersionCommand(edits, first, other.id, name="IMG_001.jpg"))
    assert failed.args == [
        "Couldn't do “Restore an earlier caption of IMG_001.jpg”: "
        "that version is no longer in this item's history"
    ]
    stack.undo()
    settle(qtbot, edits)
    assert [c.text for c in store.history(first)] == ["astronaut"]
    assert [c.text for c in store.history(second)] == ["coffee"]


def test_a_busy_database_reads_as_such(qtbot: QtBot, edits: CaptionEdits) -> None:
    def locked() -> list[int]:
        raise sqlite3.OperationalError("database is locked")

    with qtbot.waitSignal(edits.failed, timeout=WAIT_MS) as failed:
        edits.submit(locked, "Couldn't save the caption of a.jpg")
    assert failed.args == [
        "Couldn't save the caption of a.jpg: the library database is busy; try again in a moment"
    ]
    # The lane keeps going after a failure.
    with qtbot.waitSignal(edits.items_changed, timeout=WAIT_MS) as changed:
        edits.submit(lambda: [5], "x")
    assert changed.args == [[5]]
