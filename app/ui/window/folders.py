"""Removing a library folder: asked first (with how many items it takes along), done
through the undo stack, and said in a notice with an Undo button.

Nothing is deleted: `Library.remove_root` only takes the folder and its items out of
the library (captions kept); undo puts back exactly what it changed, and adding the
folder again later brings the captions back too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import shiboken6
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import QMessageBox, QWidget

from app.core.library.library import Library, RootRemoval
from app.core.text import counted
from app.services.changes import LIBRARY_SCANNED
from app.ui.details.caption_commands import CaptionEdits
from app.ui.window.context import WindowContext

Confirm = Callable[[str, str, Callable[[], None]], None]  # question, details, on yes


def removal_question(path: str, items: int) -> tuple[str, str]:
    """The question and its details: "Remove 'photos' and its 14 items …?"."""
    name = os.path.basename(path.rstrip(os.sep)) or path
    what = f"“{name}” and its {counted(items, 'item')}" if items else f"“{name}”"
    return (
        f"Remove {what} from the library?",
        "Captions are kept and come back if you add it again. The files on disk are not touched.",
    )


class RemoveFolderCommand(QUndoCommand):
    """Take a folder out of the library; undo brings it back as it was."""

    def __init__(
        self,
        edits: CaptionEdits,
        library: Library,
        root_id: int,
        name: str,
        after: Callable[[], None],
        restart_watch: Callable[[], None],
    ) -> None:
        super().__init__(f"Remove folder “{name}”")
        self._edits = edits
        self._library = library
        self._root_id = root_id
        self._after = after
        self._restart_watch = restart_watch
        self._removal: RootRemoval | None = None

    def redo(self) -> None:
        self._edits.submit(self._redo_work, f"Couldn't {self.text().lower()}", self._after)

    def undo(self) -> None:
        self._edits.submit(self._undo_work, f"Couldn't undo “{self.text()}”", self._after)

    def _redo_work(self) -> Sequence[int]:
        self._removal = self._library.remove_root(self._root_id)
        self._restart_watch()
        return []

    def _undo_work(self) -> Sequence[int]:
        removal, self._removal = self._removal, None
        if removal is None:  # redo never landed: nothing to take back
            return []
        back = self._library.restore_root(removal)
        self._restart_watch()
        return back


class FolderRemoval:
    """Sidebar "Remove" → count → confirm → undoable removal → notice."""

    def __init__(
        self,
        context: WindowContext,
        edits: CaptionEdits,
        restart_watch: Callable[[], None],
        notify: Callable[[str, bool], None],
    ) -> None:
        self._context = context
        self._edits = edits
        self._restart_watch = restart_watch
        self._notify = notify
        self.confirm: Confirm = self._ask  # tests replace it
        self.last_box: QMessageBox | None = None
        self._parent: QWidget | None = None

    def remove(self, root_id: int, parent: QWidget | None = None) -> None:
        """Ask (over `parent`, else the window), then remove through the undo stack."""
        library = self._context.library
        self._parent = parent
        self._context.background.run(
            lambda: library.root_summary(root_id),
            lambda found: self._counted(root_id, found),
            self._context.show_error,
        )

    def _counted(self, root_id: int, found: tuple[str, int] | None) -> None:
        if found is None:  # removed meanwhile (Settings, another click)
            self._context.publish(LIBRARY_SCANNED)
            return
        path, items = found
        question, details = removal_question(path, items)
        self.confirm(question, details, lambda: self._confirmed(root_id, path, items))

    def _confirmed(self, root_id: int, path: str, items: int) -> None:
        context = self._context
        name = os.path.basename(path.rstrip(os.sep)) or path
        context.undo_stack.push(
            RemoveFolderCommand(
                self._edits,
                context.library,
                root_id,
                name,
                lambda: context.publish(LIBRARY_SCANNED),
                self._restart_watch,
            )
        )
        what = f"“{name}” and its {counted(items, 'item')}" if items else f"“{name}”"
        self._notify(f"Removed {what} from the library", True)

    def _box_parent(self) -> QWidget:
        parent = self._parent
        return parent if parent is not None and shiboken6.isValid(parent) else self._context.window

    def _ask(self, question: str, details: str, on_yes: Callable[[], None]) -> None:
        """A window-modal question; open(), not exec(): nothing waits on it."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Remove folder",
            question,
            QMessageBox.StandardButton.Cancel,
            self._box_parent(),
        )
        box.setObjectName("remove_folder")
        box.setInformativeText(details)
        remove_role = QMessageBox.ButtonRole.DestructiveRole
        box.addButton("Remove", remove_role)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def answered(_result: int) -> None:
            clicked = box.clickedButton() if shiboken6.isValid(box) else None
            if clicked is not None and box.buttonRole(clicked) == remove_role:
                on_yes()
            box.deleteLater()

        box.finished.connect(answered)
        self.last_box = box
        box.open()
