"""The library's folders and totals: the sidebar's folder list and the status bar's
counts, re-read whenever the hub says folders or counts changed.

Captions arrive one by one, so count changes are coalesced (at most one read a second);
folder changes (a scan, a folder added or removed) are read at once.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel

from app.core.library.library import LibraryStatus
from app.services.changes import Changes
from app.ui.window.context import WindowContext
from app.ui.window.sidebar import Sidebar

COUNTS_COALESCE_MS = 1000
LOADING = "Loading library…"


class LibraryTotals(QObject):
    """Keeps the sidebar's folders and the status bar's counts true."""

    loaded = Signal(bool, int)  # has folders, how many items

    def __init__(self, context: WindowContext, sidebar: Sidebar) -> None:
        super().__init__(context.window)
        self._context = context
        self._sidebar = sidebar
        self.label = QLabel()
        self.label.setObjectName("library_counts")
        # The counts stay in view on the right; messages come and go on the left.
        context.window.statusBar().addPermanentWidget(self.label)
        context.show_message(LOADING)
        self._timer = QTimer(self, singleShot=True, interval=COUNTS_COALESCE_MS)
        self._timer.timeout.connect(self.reload)

    def apply_changes(self, changes: Changes) -> None:
        if changes.folders:
            self.reload()
        elif changes.counts and not self._timer.isActive():
            self._timer.start()

    def reload(self) -> None:
        self._timer.stop()
        library = self._context.library

        def load() -> tuple[list[tuple[int, str, str]], LibraryStatus]:
            roots = [(r.id, r.path, r.watch_state) for r in library.roots()]
            return roots, library.status()

        self._context.background.run(load, self._show, self._context.show_error)

    def _show(self, loaded: tuple[list[tuple[int, str, str]], LibraryStatus]) -> None:
        roots, status = loaded
        self._sidebar.set_folders(roots)
        bar = self._context.window.statusBar()
        if bar.currentMessage() == LOADING:
            bar.clearMessage()
        self.label.setText(
            f"{status.items:,} items · {status.captioned:,} captioned · "
            f"{status.queued:,} waiting · {status.errors:,} unreadable"
        )
        self.loaded.emit(bool(roots), status.items)
