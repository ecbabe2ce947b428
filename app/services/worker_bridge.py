"""The caption worker process, seen from the GUI: its events arrive as a Qt signal.

The supervisor reads and decodes the worker's events on its own thread; emitting a
signal there queues the typed events (app.core.captioning.events) to the GUI thread.
The GUI process itself never loads llama.cpp.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QObject, Signal

from app.core.captioning.events import CaptionEvent
from app.core.captioning.supervisor import WorkerSupervisor
from app.core.datadir import DataDir


class WorkerBridge(QObject):
    event_received = Signal(object)  # a CaptionEvent

    def __init__(self, data_dir: DataDir, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._supervisor = WorkerSupervisor(data_dir.root, on_event=self._forward, forever=True)

    def start(self) -> None:
        self._supervisor.start()

    def nudge(self) -> None:
        """New jobs or a new model: a worker waiting for a model tries again now."""
        self._supervisor.nudge()

    def stop(self, timeout: float = 1.5) -> None:
        self._supervisor.stop(timeout)

    def _forward(self, event: CaptionEvent) -> None:
        # The worker can outlive a closed window by a moment (stop waits at most its
        # timeout); its last events then have nobody to go to.
        if shiboken6.isValid(self):
            self.event_received.emit(event)
