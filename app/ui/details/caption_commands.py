"""Undoable caption, review and library edits for the window's QUndoStack.

QUndoStack calls redo()/undo() on the GUI thread and expects them to return at
once, but a busy database can make a write wait seconds. So a command only queues
its write on `CaptionEdits`, which runs the writes one at a time, in the order they
were asked for (an undo can never overtake the redo it reverses), on the
background pool, and announces each landed write with `items_changed`.

Captions are history that only grows: undoing an edit records the previous words
again as the user's caption (if the previous caption was the model's, the user now
owns those words: the command's text says so). The one exception is an item's very
first caption, which is withdrawn instead (see app.core.caption_undo).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand

from app.core.caption_undo import (
    CaptionSnapshot,
    current_snapshot,
    listed_ids,
    withdraw_caption,
)
from app.core.captions import MODEL, CaptionStore
from app.core.library.library import Library
from app.core.metadata.write_back import write_metadata
from app.core.storage.db import Database
from app.core.text import counted
from app.services.background import Background

log = logging.getLogger(__name__)
Work = Callable[[], Sequence[int]]  # runs on the pool; returns the item ids it changed
AI_WORDS_NOTE = " (undo keeps the AI's words as yours)"


@dataclass
class _Write:
    work: Work
    failure: str  # "Couldn't save the caption of IMG_001.jpg": the message's start
    landed: Callable[[], None] | None = None  # GUI thread, after a successful write
    metadata: bool = False  # a caption changed: write it out as XMP too (the setting)


class CaptionEdits(QObject):
    """The single writer lane for user edits; shared by every command and view."""

    items_changed = Signal(list)  # item ids whose caption, review mark or state changed
    failed = Signal(str)  # a clear message for the status bar
    settled = Signal()  # nothing queued or running any more

    def __init__(self, db: Database, background: Background, parent: QObject | None = None):
        super().__init__(parent)
        self.db = db
        self._background = background
        self._queue: deque[_Write] = deque()
        self._running = False

    def pending(self) -> int:
        """Writes queued or in progress (the window waits for 0 before closing)."""
        return len(self._queue) + int(self._running)

    def submit(
        self,
        work: Work,
        failure: str,
        landed: Callable[[], None] | None = None,
        *,
        metadata: bool = False,
    ) -> None:
        self._queue.append(_Write(work, failure, landed, metadata))
        if not self._running:
            self._next()

    def _next(self) -> None:
        if not self._queue:
            self._running = False
            self.settled.emit()
            return
        self._running = True
        write = self._queue.popleft()
        db = self.db

        def run() -> tuple[list[int], list[str]]:
            ids = list(write.work())
            return ids, _write_out(db, ids) if write.metadata and ids else []

        self._background.run(
            run,
            lambda outcome: self._landed(write, *outcome),
            lambda reason: self._failed(write, reason),
        )

    def _landed(self, write: _Write, ids: list[int], metadata_errors: list[str]) -> None:
        self._running = False  # pending() now counts only what is still to come
        if metadata_errors:
            more = f" (and {len(metadata_errors) - 1} more)" if len(metadata_errors) > 1 else ""
            self.failed.emit(f"Saved, but not written to the file: {metadata_errors[0]}{more}")
        if write.landed is not None:
            write.landed()
        if ids:
            self.items_changed.emit(ids)
        if not self._running:  # a slot may have submitted (and started) the next one
            self._next()

    def _failed(self, write: _Write, reason: str) -> None:
        self._running = False
        if "locked" in reason or "busy" in reason:
            reason = "the library database is busy; try again in a moment"
        self.failed.emit(f"{write.failure}: {reason}")
        if not self._running:
            self._next()


def _write_out(db: Database, item_ids: list[int]) -> list[str]:
    """The changed captions as XMP; what could not be written, never an exception: the
    edit itself is saved, the file only carries a copy of it."""
    try:
        return list(write_metadata(db, item_ids).errors.values())
    except Exception as exc:  # a database or library problem, reported like a file's
        log.exception("writing caption metadata failed")
        return [str(exc) or exc.__class__.__name__]


class _EditsCommand(QUndoCommand):
    """A command whose redo and undo are writes queued on CaptionEdits."""

    changes_captions = False  # True: the edit's captions are written out as XMP too

    def __init__(self, edits: CaptionEdits, text: str) -> None:
        super().__init__(text)
        self._edits = edits
        self._store = CaptionStore(edits.db)

    def redo(self) -> None:
        self._edits.submit(
            self._redo_work,
            self._failure("do"),
            self._redo_landed,
            metadata=self.changes_captions,
        )

    def undo(self) -> None:
        self._edits.submit(self._undo_work, self._failure("undo"), metadata=self.changes_captions)

    def _failure(self, verb: str) -> str:
        return f"Couldn't {verb} “{self.text()}”"

    def _redo_work(self) -> Sequence[int]:
        raise NotImplementedError

    def _undo_work(self) -> Sequence[int]:
        raise NotImplementedError

    def _redo_landed(self) -> None:
        """GUI thread, after redo's write: a chance to correct the command's text."""


class _CaptionChange(_EditsCommand):
    """Makes a new caption current; undo puts back the words shown before."""

    changes_captions = True

    def __init__(self, edits: CaptionEdits, item_id: int, keyframe_id: int | None, text: str):
        super().__init__(edits, text)
        self.item_id = item_id
        self.keyframe_id = keyframe_id
        self._label = text
        self._before: CaptionSnapshot | None = None
        self._written: int | None = None  # the caption id redo wrote; None: not landed

    def _write(self) -> int:
        raise NotImplementedError

    def _redo_work(self) -> Sequence[int]:
        self._before = current_snapshot(self._edits.db, self.item_id, self.keyframe_id)
        self._written = self._write()
        return [self.item_id]

    def _undo_work(self) -> Sequence[int]:
        written, before = self._written, self._before
        if written is None:  # redo never landed: nothing to take back
            return []
        self._written = None
        if before is not None:
            self._store.add_user_caption(
                self.item_id, before.text, before.tags, keyframe_id=self.keyframe_id
            )
        elif not withdraw_caption(self._edits.db, written):
            # Something was built on it meanwhile: "no caption" as the user's words.
            self._store.add_user_caption(self.item_id, "", (), keyframe_id=self.keyframe_id)
        return [self.item_id]

    def _redo_landed(self) -> None:
        over_model = self._before is not None and self._before.source == MODEL
        text = self._label + (AI_WORDS_NOTE if over_model else "")
        if shiboken6.isValid(self) and text != self.text():
            self.setText(text)


class EditCaptionCommand(_CaptionChange):
    """The user's words (and tags) for an item or one of a video's moments."""

    def __init__(
        self,
        edits: CaptionEdits,
        item_id: int,
        text: str,
        tags: Sequence[str],
        *,
        name: str,
        label: str | None = None,
        replaces_model: bool = False,
        keyframe_id: int | None = None,
    ) -> None:
        super().__init__(edits, item_id, keyframe_id, label or f"Edit caption of {name}")
        self.caption_text = text
        self.tags = tuple(tags)
        if replaces_model:  # known for sure once redo lands; right from the start here
            self.setText(self._label + AI_WORDS_NOTE)

    def _write(self) -> int:
        return self._store.add_user_caption(
            self.item_id, self.caption_text, self.tags, keyframe_id=self.keyframe_id
        ).id


class RestoreVersionCommand(_CaptionChange):
    """An older item caption becomes current again (as the user's choice)."""

    def __init__(self, edits: CaptionEdits, item_id: int, caption_id: int, *, name: str) -> None:
        super().__init__(edits, item_id, None, f"Restore an earlier caption of {name}")
        self.caption_id = caption_id

    def _write(self) -> int:
        if all(v.id != self.caption_id for v in self._store.history(self.item_id)):
            raise ValueError("that version is no longer in this item's history")
        return self._store.restore(self.caption_id).id


class AcceptCommand(_EditsCommand):
    """Mark model captions as reviewed; undo puts the previous marks back."""

    def __init__(
        self, edits: CaptionEdits, item_ids: Sequence[int], *, name: str | None = None
    ) -> None:
        count = len(item_ids)
        text = (
            f"Accept caption of {name}"
            if name and count == 1
            else f"Accept {counted(count, 'caption')}"
        )
        super().__init__(edits, text)
        self.item_ids = list(item_ids)
        self._before: dict[int, int | None] = {}

    def _redo_work(self) -> Sequence[int]:
        self._before = self._store.accept(self.item_ids)
        return list(self._before)

    def _undo_work(self) -> Sequence[int]:
        before, self._before = self._before, {}
        self._store.set_reviewed(before)
        return list(before)


class RemoveItemsCommand(_EditsCommand):
    """ "Remove from library" (captions kept); undo brings back exactly the items
    this command removed, not ones that were removed before it."""

    def __init__(
        self, edits: CaptionEdits, item_ids: Sequence[int], *, name: str | None = None
    ) -> None:
        count = len(item_ids)
        text = (
            f"Remove {name} from the library"
            if name and count == 1
            else f"Remove {counted(count, 'item')} from the library"
        )
        super().__init__(edits, text)
        self.item_ids = list(item_ids)
        self._removed: list[int] = []

    def _redo_work(self) -> Sequence[int]:
        ids = listed_ids(self._edits.db, self.item_ids)
        Library(self._edits.db).remove_items(ids)
        self._removed = ids
        return ids

    def _undo_work(self) -> Sequence[int]:
        ids, self._removed = self._removed, []
        Library(self._edits.db).restore_items(ids)
        return ids
