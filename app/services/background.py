"""Running library work off the GUI thread.

Workers get plain arguments and never touch widgets; their results come back to
the GUI thread through a queued signal, where the caller updates the view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QThreadPool, Signal

log = logging.getLogger(__name__)


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(str)


def _run(fn: Callable[[], Any], relay: _Relay) -> None:
    try:
        result = fn()
    except Exception as exc:  # reported to the user by the caller's on_error
        log.exception("background task failed")
        relay.failed.emit(str(exc) or exc.__class__.__name__)
    else:
        relay.done.emit(result)


class Background(QObject):
    """A small thread pool whose results arrive on the GUI thread."""

    def __init__(self, parent: QObject | None = None, *, threads: int = 2) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._relays: set[_Relay] = set()
        self._shut = False

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        relay = _Relay()  # created here, so it lives in the GUI thread
        self._relays.add(relay)
        relay.done.connect(lambda result: self._finish(relay, on_done, result))
        relay.failed.connect(lambda message: self._finish(relay, on_error, message))
        # A callable, not a QRunnable subclass: about one in ten of those Python wrappers
        # outlived its run, holding the work and its arguments.
        self._pool.start(lambda: _run(fn, relay))

    def wait(self, msecs: int = 2000) -> bool:
        """Wait for running tasks (at shutdown). Queued ones are dropped, and so are the
        results still on their way: the widgets they were for are being destroyed."""
        self._shut = True
        self._pool.clear()
        return self._pool.waitForDone(msecs)

    def _finish(self, relay: _Relay, callback: Callable[[Any], None] | None, value: Any) -> None:
        # The relay's connections hold lambdas that hold the relay: a cycle through C++
        # that Python's collector cannot see. Disconnecting breaks it, or every task
        # would leave its relay, closures and captured arguments behind.
        self._relays.discard(relay)
        relay.done.disconnect()
        relay.failed.disconnect()
        # A pool owned by a window or dialog dies with it (a dialog closed while a task
        # ran): its widgets are gone, so is the reason to deliver.
        if callback is not None and not self._shut and shiboken6.isValid(self):
            callback(value)
