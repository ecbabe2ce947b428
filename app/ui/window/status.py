"""The library's folders and totals: the sidebar's folder list and the status bar's
counts, re-read whenever the hub says folders or counts changed.

Captions arrive one by one, so count changes are coalesced (at most one read a second);
folder changes (a scan, a folder added or removed) are read at once. Reads run on a pool
of more than one thread, so each carries a serial number and only the newest is shown:
an older read finishing last would put stale counts back.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel

from app.core.library.library import LibraryStatus
from app.services.changes import Changes
from app.ui.window.context import WindowContext
from app.ui.window.sidebar import Sidebar
from app.ui.words import counted

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
        self._serial = 0

    def apply_changes(self, changes: Changes) -> None:
        if changes.folders:
            self.reload()
        elif (changes.counts or changes.queue or changes.listing) and not self._timer.isActive():
            self._timer.start()

    def reload(self) -> None:
        self._timer.stop()
        library = self._context.library
        self._serial += 1
        serial = self._serial

        def load() -> tuple[int, list[tuple[int, str, str]], LibraryStatus]:
            roots = [(r.id, r.path, r.watch_state) for r in library.roots()]
            return serial, roots, library.status()

        self._context.background.run(load, self._show, self._context.show_error)

    def _show(self, loaded: tuple[int, list[tuple[int, str, str]], LibraryStatus]) -> None:
        serial, roots, status = loaded
        if serial != self._serial:
            return  # a newer read is under way: these counts may be stale
        self._sidebar.set_folders(roots)
        bar = self._context.window.statusBar()
        if bar.currentMessage() == LOADING:
            bar.clearMessage()
        self.label.setText(totals_text(status))
        self.loaded.emit(bool(roots), status.items)


def totals_text(status: LibraryStatus) -> str:
    """ "14 items · 13 captioned · 1 waiting" (unreadable files only when there are some)."""
    parts = [
        f"{counted(status.items, 'item')}",
        f"{status.captioned:,} captioned",
        f"{status.queued + status.running:,} waiting",
    ]
    if status.errors:
        parts.append(f"{status.errors:,} unreadable")
    return " · ".join(parts)
