"""The folder watcher, seen from the GUI: its reports arrive as a Qt signal, and each
batch of changes is published on the change hub.

The watcher calls back on its own processing thread; a signal emitted there is
queued to the GUI thread, where widgets may be touched.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from app.core.library.library import Library
from app.core.library.reconcile import ScanReport
from app.core.library.watcher import LibraryWatcher
from app.services.changes import LIBRARY_SCANNED, ChangeHub


class WatchBridge(QObject):
    library_changed = Signal(object)  # the ScanReport of a batch of changes

    def __init__(self, library: Library, hub: ChangeHub, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._library = library
        self.library_changed.connect(lambda _report: hub.publish(LIBRARY_SCANNED))
        self._watcher: LibraryWatcher | None = None
        self._lock = threading.Lock()  # restarts come from pool threads, stop from the GUI

    def restart(self) -> None:
        """(Re)watch every enabled folder; call after folders were added or removed.
        Blocking for a moment (it starts observers): run it off the GUI thread."""
        with self._lock:
            self._stop(2.0)
            watcher = LibraryWatcher(self._library, on_report=self._report)
            watcher.start()
            self._watcher = watcher

    def stop(self, timeout: float = 2.0) -> None:
        with self._lock:
            self._stop(timeout)

    def _stop(self, timeout: float) -> None:
        if self._watcher is not None:
            self._watcher.stop(timeout)
            self._watcher = None

    def _report(self, report: ScanReport) -> None:
        if report.new or report.changed or report.moved or report.missing or report.returned:
            self.library_changed.emit(report)
