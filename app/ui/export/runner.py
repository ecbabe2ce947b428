"""One export at a time, off the GUI thread, with progress and Cancel.

The export reads the database and writes files for as long as the library is large, so
it gets a lane of its own (one thread) instead of a slot of the window's pool, where it
would hold up thumbnails' metadata and counts. Progress crosses to the GUI thread as a
queued signal, at most ten times a second. Cancel is a flag the core checks between
files; a user-caused failure (ExportError, OSError) comes back as a sentence, never as
an exception into Qt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from app.core.export.run import Export, ExportError, ExportOptions, ExportSummary
from app.core.export.selection import Selection
from app.core.storage.db import Database
from app.services.background import Background

PROGRESS_EVERY_S = 0.1


@dataclass(frozen=True, slots=True)
class ExportFailed:
    """The export could not run; `reason` is a sentence for the user."""

    reason: str


class ExportRunner(QObject):
    progressed = Signal(int, int)  # done, total
    finished = Signal(object)  # ExportSummary or ExportFailed

    def __init__(self, db: Database, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._lane = Background(self, threads=1)
        self._cancel = threading.Event()
        self.running = False

    def start(self, selection: Callable[[Database], Selection], options: ExportOptions) -> None:
        """Export what `selection(db)` picks (it runs on the export thread: a view's ids
        come from a query)."""
        if self.running:
            return
        self.running = True
        self._cancel = cancel = threading.Event()
        db, report = self._db, self._throttled()

        def work() -> ExportSummary | ExportFailed:
            try:
                export = Export(
                    db, selection(db), options, should_cancel=cancel.is_set, progress=report
                )
                return export.run()
            except ExportError as exc:
                return ExportFailed(str(exc))
            except OSError as exc:
                where = f" ({exc.filename})" if exc.filename else ""
                return ExportFailed(f"{exc.strerror or exc}{where}")

        self._lane.run(work, self._done, lambda message: self._done(ExportFailed(message)))

    def cancel(self) -> None:
        self._cancel.set()

    def shutdown(self, msecs: int = 5000) -> None:
        """The window is closing: stop the export between two files and wait for it."""
        self._cancel.set()
        self._lane.wait(msecs)

    def _throttled(self) -> Callable[[int, int], None]:
        last = [0.0]
        emit = self.progressed.emit

        def report(done: int, total: int) -> None:
            now = time.monotonic()
            if done < total and done and now - last[0] < PROGRESS_EVERY_S:
                return
            last[0] = now
            emit(done, total)

        return report

    def _done(self, outcome: ExportSummary | ExportFailed) -> None:
        self.running = False
        self.finished.emit(outcome)
