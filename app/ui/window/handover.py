"""Paths handed to the open window by another launch ("Caption this" in a file manager,
the desktop entry's action, `captionist caption-this PATH...`, or "Open with Captionist",
`captionist open PATH...`) or given to this one.

The window comes forward at once; indexing and queueing run on the background pool
(a folder can hold thousands of photos), then the worker is nudged and the status bar
says what was queued and what could not be used, path by path.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from app.core.library.handover import IndexedPaths, index_paths, queue_paths
from app.core.text import counted
from app.services.changes import Changes
from app.ui.window.context import WindowContext

MAX_ERRORS_LISTED = 10


def bring_forward(window: QWidget) -> None:
    """Show, un-minimise and raise the window (the window manager may only flash it in the
    task bar, which is its right: focus stealing prevention)."""
    if window.isMinimized():
        window.showNormal()
    window.show()
    window.raise_()
    window.activateWindow()


class Handover(QObject):
    """Queues handed-over paths for the window; `handled` reports each batch (tests and
    the activity panel listen)."""

    handled = Signal(object)  # IndexedPaths

    def __init__(self, context: WindowContext, select_item: Callable[[int], None]) -> None:
        super().__init__(context.window)
        self._context = context
        self._select_item = select_item
        self._select_next_listing: int | None = None

    def receive(self, paths: list[str], caption: bool = True) -> None:
        """Caption the paths first (or with `caption` unset, only add and show them)."""
        context = self._context
        bring_forward(context.window)
        if not paths:
            return
        library, work = context.library, queue_paths if caption else index_paths
        where = " to the queue" if caption else ""
        context.show_message(f"Adding {counted(len(paths), 'path')}{where}…")
        context.background.run(
            lambda: work(library, paths),
            lambda result: self._handled(result, caption),
            context.show_error,
        )

    def _handled(self, result: IndexedPaths, captioned: bool) -> None:
        context = self._context
        ids = result.item_ids()
        if ids:
            self._select_next_listing = ids[0]  # once the gallery lists it: shown and followed
            # Folders may have been added; the items are new or queued first.
            context.publish(
                Changes.of_items(ids, queue=captioned, listing=True, counts=True, folders=True)
            )
        added = f"Added {counted(len(ids), 'item')} to the library"
        context.show_message(result.summary() if captioned else added, 10_000)
        if result.errors:
            self._show_errors(result)
        self.handled.emit(result)

    def listed(self, _listing: object, _count: int) -> None:
        """The gallery listed again: select the first handed-over item once it is there."""
        if self._select_next_listing is not None:
            self._select_item(self._select_next_listing)
            self._select_next_listing = None

    def _show_errors(self, result: IndexedPaths) -> None:
        lines = [
            f"{os.path.basename(path.rstrip(os.sep)) or path}: {reason}"
            for path, reason in list(result.errors.items())[:MAX_ERRORS_LISTED]
        ]
        if len(result.errors) > MAX_ERRORS_LISTED:
            lines.append(f"…and {len(result.errors) - MAX_ERRORS_LISTED} more")
        given = len(result.errors) + len(result.items)
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Some files could not be used",
            f"{len(result.errors)} of the {counted(given, 'path')} sent to Captionist "
            "could not be used:",
            QMessageBox.StandardButton.Ok,
            self._context.window,
        )
        box.setObjectName("handover_errors")
        box.setInformativeText("\n".join(lines))
        box.setDetailedText("\n".join(f"{p}: {r}" for p, r in result.errors.items()))
        box.open()  # not exec(): the window keeps working behind it
