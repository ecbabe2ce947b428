"""The caption worker process, seen from the GUI: its events arrive as a Qt signal, and
what they change is published on the change hub.

The supervisor reads and decodes the worker's events on its own thread; emitting a
signal there queues the typed events (app.core.captioning.events) to the GUI thread.
The GUI process itself never loads llama.cpp.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QObject, Signal

from app.core.captioning.events import Cancelled, CaptionEvent, Failed, Finished, Started
from app.core.captioning.supervisor import WorkerSupervisor
from app.core.datadir import DataDir
from app.services.changes import ChangeHub, Changes

ROW_EVENTS = (Started, Finished, Failed, Cancelled)  # an item's row shows them
COUNT_EVENTS = (Finished, Failed)  # the library's totals move


# Settings a running worker reads once, at its start (its pool's members).
# Settings the worker reads once, when it starts: who captions (issue 13) and which
# model embeds captions for search by meaning (issue 14).
RESTARTS_WORKER = frozenset({"caption_backends", "inference_servers", "embedding_model"})


class WorkerBridge(QObject):
    event_received = Signal(object)  # a CaptionEvent
    _event_arrived = Signal(object)  # from the supervisor's thread to the GUI thread

    def __init__(self, data_dir: DataDir, hub: ChangeHub, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._hub = hub
        self._supervisor = WorkerSupervisor(data_dir.root, on_event=self._forward, forever=True)
        self._event_arrived.connect(self._arrived)

    def start(self) -> None:
        self._supervisor.start()

    def nudge(self) -> None:
        """New jobs or a new model: a worker waiting for a model tries again now."""
        self._supervisor.nudge()

    def apply_changes(self, changes: Changes) -> None:
        if changes.settings & RESTARTS_WORKER:
            self._supervisor.restart()  # the running worker has the old servers
        elif changes.queue or changes.captioning:
            self.nudge()

    def stop(self, timeout: float = 1.5) -> None:
        self._supervisor.stop(timeout)

    def _forward(self, event: CaptionEvent) -> None:
        # The worker can outlive a closed window by a moment (stop waits at most its
        # timeout); its last events then have nobody to go to.
        if shiboken6.isValid(self):
            self._event_arrived.emit(event)

    def _arrived(self, event: CaptionEvent) -> None:
        if isinstance(event, ROW_EVENTS) and event.item is not None:
            counts = isinstance(event, COUNT_EVENTS)
            self._hub.publish(Changes.of_items([event.item], counts=counts))
        self.event_received.emit(event)
