"""What the user can do to selected gallery items: the right-click menu, the Item
menu and their keyboard shortcuts, one QAction each so that all three agree.

Queueing runs on the background pool and is published on the change hub; edits that
can be undone go through the window's undo stack (the callbacks passed in).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QPoint, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from app.core.alt_text import alt_text
from app.core.gallery import GalleryRow, gallery_rows
from app.core.jobs import PRIORITY_USER, JobQueue
from app.core.metadata.write_back import WriteReport, write_metadata, write_mode
from app.core.semantic.hybrid import Finder
from app.core.storage.db import Database
from app.core.text import counted
from app.services.background import Background
from app.services.changes import ChangeHub, Changes
from app.ui.gallery.recaption_listing import ListingRecaption

Ids = Callable[[], list[int]]


@dataclass(frozen=True)
class ItemCallbacks:
    """What the window does for actions that touch its own parts."""

    selected_ids: Ids
    accept: Callable[[list[int]], None]  # through the undo stack
    remove: Callable[[list[int], str | None], None]  # through the undo stack; ids, name
    edit: Callable[[int], None]  # focus the caption editor of this item
    message: Callable[[str], None]  # a line in the status bar
    row_of: Callable[[int], GalleryRow | None]  # the row the gallery already holds
    notify: Callable[[str, bool], None]  # a transient notice; True: with an Undo button
    listed_ids: Ids  # the gallery's items, in its order
    select_after_removal: Callable[[int, list[int]], None]  # this item, once those are gone
    # "Find similar": list the items nearest this one in meaning (id, its file name).
    find_similar: Callable[[int, str], None] = lambda _id, _name: None
    finder: Callable[[], Finder | None] = lambda: None  # the window's search


class ItemActions(QObject):
    failed = Signal(str)

    def __init__(
        self,
        db: Database,
        background: Background,
        hub: ChangeHub,
        callbacks: ItemCallbacks,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._window = parent  # typed: self.parent() is only a QObject
        self._db = db
        self._background = background
        self._hub = hub
        self._cb = callbacks
        self._prompts: dict[str, str] = {}
        self._models: dict[str, str] = {}
        self.caption = self._action(
            "Caption this",
            "Ctrl+Shift+C",
            self.caption_selected,
            "Caption the selected items now, ahead of the queue",
        )
        self.accept = self._action(
            "Accept caption",
            "Ctrl+Return",
            lambda: self._with_ids(self._cb.accept),
            "Keep the AI's caption as it is (leaves Needs review)",
        )
        self.edit = self._action("Edit caption", "F2", self._edit_current)
        self.copy = self._action("Copy caption", QKeySequence.StandardKey.Copy, self.copy_captions)
        self.copy_alt = self._action(
            "Copy as alt text",
            "Ctrl+Alt+C",
            self.copy_alt_text,
            "Copy the caption as web alt text: one line, at most 125 characters",
        )
        self.write_out = self._action(
            "Write caption to file",
            "Ctrl+Shift+M",
            self.write_metadata_selected,
            "Write the caption and tags as XMP metadata (Settings → Library says where)",
        )
        self.open = self._action("Open", "Ctrl+O", self.open_selected)
        self.show_in_folder = self._action("Show in folder", "Ctrl+Shift+R", self.reveal_selected)
        self.find_similar = self._action(
            "Find similar",
            "Ctrl+Shift+F",
            self.find_similar_to_selected,
            "Show the items whose captions mean nearly the same as this one's",
        )
        self.find_similar.setEnabled(False)
        self.remove = self._action(
            "Remove from library",
            QKeySequence.StandardKey.Delete,
            self.remove_selected,
            "Hide from the library; the file and its captions stay",
        )
        self.again_menu = QMenu("Caption again with…", parent)
        # Its last section: the same choices for everything the gallery lists.
        self.whole = ListingRecaption(
            db, background, hub, callbacks.message, parent, callbacks.finder
        )
        self.whole.failed.connect(self.failed.emit)

    def _action(
        self,
        text: str,
        shortcut: str | QKeySequence.StandardKey,
        slot: Callable[[], Any],
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self.parent())
        action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def all(self) -> list[QAction]:
        return [
            self.caption,
            self.accept,
            self.edit,
            self.copy,
            self.copy_alt,
            self.write_out,
            self.open,
            self.show_in_folder,
            self.find_similar,
            self.remove,
        ]

    def selection_changed(self, count: int) -> None:
        """Actions meant for exactly one item follow the selection."""
        self.find_similar.setEnabled(count == 1)

    def set_choices(self, prompts: dict[str, str], models: dict[str, str]) -> None:
        """Prompt templates and installed models offered by "Caption again with…"."""
        self._prompts, self._models = dict(prompts), dict(models)
        menu = self.again_menu
        menu.clear()
        for prompt_id, name in self._prompts.items():
            menu.addAction(f"Prompt: {name}").triggered.connect(
                lambda _=False, p=prompt_id: self.caption_selected({"prompt": p})
            )
        if self._models:
            menu.addSeparator()
        for model_id, name in self._models.items():
            menu.addAction(f"Model: {name}").triggered.connect(
                lambda _=False, m=model_id: self.caption_selected({"model_override": {"model": m}})
            )
        self.whole.set_choices(self._prompts, self._models)
        menu.addSeparator()
        menu.addMenu(self.whole.menu)
        menu.setEnabled(bool(self._prompts or self._models))

    def context_menu(self, position: QPoint) -> None:
        menu = QMenu(self._window)
        menu.setObjectName("item_menu")
        count = len(self._cb.selected_ids())
        self.caption.setText("Caption this" if count == 1 else f"Caption these {count}")
        menu.addAction(self.caption)
        menu.addMenu(self.again_menu)
        menu.addSeparator()
        for action in (self.accept, self.edit, self.copy, self.copy_alt, self.write_out):
            menu.addAction(action)
        menu.addSeparator()
        for action in (self.open, self.show_in_folder):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.find_similar)
        menu.addSeparator()
        menu.addAction(self.remove)
        self.edit.setEnabled(count == 1)
        self.selection_changed(count)
        self.last_menu = menu  # tests look at it
        menu.popup(position)

    # -- the actions --------------------------------------------------------------------
    def caption_selected(self, params: dict[str, Any] | None = None) -> None:
        ids = self._cb.selected_ids()
        if not ids:
            return
        db = self._db

        def queue() -> list[int]:
            JobQueue(db).enqueue(ids, priority=PRIORITY_USER, params=params)
            return ids

        self._background.run(queue, self._queued, self.failed.emit)
        self._cb.message(f"Queued {counted(len(ids), 'item')} at the front of the line")

    def _queued(self, ids: list[int]) -> None:
        self._hub.publish(Changes.of_items(ids, queue=True))

    def copy_captions(self) -> None:
        self._copy(lambda text: text, "Caption copied", "captions copied")

    def copy_alt_text(self) -> None:
        """The captions as alt text (app.core.alt_text), one line per item."""
        self._copy(alt_text, "Alt text copied", "alt texts copied")

    def _copy(self, shaped: Callable[[str], str], one: str, many: str) -> None:
        ids = self._cb.selected_ids()
        db = self._db
        if not ids:
            return

        def read() -> str:
            rows = gallery_rows(db, ids)
            return "\n".join(shaped(rows[i].caption or "") for i in ids if i in rows)

        def copy(text: str) -> None:
            QGuiApplication.clipboard().setText(text)
            self._cb.message(one if len(ids) == 1 else f"{len(ids)} {many}")

        self._background.run(read, copy, self.failed.emit)

    def write_metadata_selected(self) -> None:
        """Write the selection's captions out now: the setting's way, or a sidecar when
        writing is switched off (the user asked for these)."""
        ids = self._cb.selected_ids()
        if not ids:
            return
        db = self._db

        def write() -> WriteReport:
            mode = write_mode(db)
            return write_metadata(db, ids, "sidecar" if mode == "off" else mode)

        def written(report: WriteReport) -> None:
            if report.errors:
                first = next(iter(report.errors.values()))
                self.failed.emit(f"{report.summary()}: {first}")
            else:
                self._cb.message(report.summary())

        self._background.run(write, written, self.failed.emit)
        self._cb.message(f"Writing captions to {counted(len(ids), 'file')}…")

    def remove_selected(self) -> None:
        """Remove the selection (undoable), say so with an Undo button, and move the
        selection on to the item after it (before it, at the end of the list)."""
        ids = self._cb.selected_ids()
        if not ids:
            return
        row = self._cb.row_of(ids[0]) if len(ids) == 1 else None
        following = next_item(self._cb.listed_ids(), ids)
        self._cb.remove(ids, row.name if row else None)
        self._cb.notify(f"Removed {counted(len(ids), 'item')}", True)
        if following is not None:
            self._cb.select_after_removal(following, ids)

    def open_selected(self) -> None:
        problems: list[str] = []
        for path in self._paths(limit=10):
            name = os.path.basename(path)
            if not os.path.exists(path):
                problems.append(f"{name} is no longer at {os.path.dirname(path)}")
            elif not QDesktopServices.openUrl(QUrl.fromLocalFile(path)):
                kind = os.path.splitext(name)[1].lower() or "such"
                problems.append(
                    f"this computer has no program set to open {kind} files like {name} "
                    "(Show in folder, then open it from there)"
                )
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self._cb.notify(f"Couldn't open: {problems[0]}{more}", False)

    def reveal_selected(self) -> None:
        for path in self._paths(limit=5):
            if not os.path.exists(path):
                self._cb.notify(f"Couldn't show {os.path.basename(path)}: it is gone", False)
            elif not reveal_in_file_manager(path):
                self._cb.notify(f"Couldn't open a file manager; the file is at {path}", False)

    def find_similar_to_selected(self) -> None:
        ids = self._cb.selected_ids()
        if len(ids) != 1:
            return
        row = self._cb.row_of(ids[0])
        self._cb.find_similar(ids[0], row.name if row else f"item {ids[0]}")

    def _edit_current(self) -> None:
        ids = self._cb.selected_ids()
        if ids:
            self._cb.edit(ids[0])

    def _with_ids(self, fn: Callable[[list[int]], None]) -> None:
        ids = self._cb.selected_ids()
        if ids:
            fn(ids)

    def _paths(self, limit: int) -> list[str]:
        """Paths of the selection from the rows the gallery already holds."""
        rows = (self._cb.row_of(i) for i in self._cb.selected_ids()[:limit])
        return [r.path for r in rows if r is not None]


def next_item(listed: list[int], removed: list[int]) -> int | None:
    """The item to select once `removed` are gone: the first after the last of them,
    else the last before them; None when nothing is left."""
    gone = set(removed)
    positions = [n for n, item_id in enumerate(listed) if item_id in gone]
    if not positions:
        return None
    after = [i for i in listed[positions[-1] + 1 :] if i not in gone]
    if after:
        return after[0]
    before = [i for i in listed[: positions[-1]] if i not in gone]
    return before[-1] if before else None


def reveal_in_file_manager(path: str) -> bool:
    """Show the file selected in the system file manager where that is possible.
    False when nothing could be started."""
    try:
        if sys.platform == "darwin":
            subprocess.Popen(["open", "-R", path])  # noqa: S603,S607
        elif sys.platform == "win32":
            subprocess.Popen(["explorer", "/select,", os.path.normpath(path)])  # noqa: S603,S607
        else:
            return QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))
    except OSError:
        return False
    return True
