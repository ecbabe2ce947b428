"""An unhandled exception in the window becomes a dialog, not a silent exit.

`CrashReporter.install` replaces `sys.excepthook` (exceptions in slots, timers, event
handlers: PySide6 reports them there) and `threading.excepthook` (Python threads): the
traceback goes to the log, and a message box on the GUI thread says where the log is,
with the traceback in its details. An exception on another thread reaches the box through
a queued signal. The app keeps running.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from app import APP_NAME

log = logging.getLogger(__name__)
TITLE = f"{APP_NAME}: something went wrong"


class CrashReporter(QObject):
    """Create it on the GUI thread; `install` once the window is up, `uninstall` at the
    end (restores the hooks it replaced)."""

    _arrived = Signal(str)

    def __init__(
        self, log_path: Path | None, parent_widget: Callable[[], QWidget | None] = lambda: None
    ) -> None:
        super().__init__()
        self.log_path = log_path
        self._parent_widget = parent_widget
        self.box: QMessageBox | None = None
        self._previous: tuple[object, object] | None = None
        self._arrived.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        if self._previous is not None:
            sys.excepthook, threading.excepthook = self._previous  # type: ignore[assignment]
            self._previous = None

    def message(self) -> str:
        if self.log_path is None:
            where = (
                "The details could not be written to a log file (the data folder is not "
                "writable); they are below."
            )
        else:
            where = f"The details are in the log file:\n{self.log_path}"
        return (
            f"{APP_NAME} hit an error it did not expect. It keeps running, but what you "
            f"just did may not have finished.\n\n{where}"
        )

    def _sys_hook(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        self._report(kind, exc, tb, "")

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread is not None else "?"
        self._report(args.exc_type, args.exc_value, args.exc_traceback, f" in thread {name}")

    def _report(
        self,
        kind: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
        where: str,
    ) -> None:
        log.error("unhandled exception%s", where, exc_info=(kind, exc, tb))
        text = "".join(traceback.format_exception(kind, exc, tb))
        self._arrived.emit(text)  # queued: shown by the GUI thread's event loop

    def _show(self, details: str) -> None:
        box = self.box
        if box is not None and box.isVisible():  # one box; later errors join its details
            box.setDetailedText(box.detailedText() + "\n" + details)
            return
        box = QMessageBox(
            QMessageBox.Icon.Critical,
            TITLE,
            self.message(),
            QMessageBox.StandardButton.Close,
            self._parent_widget(),
        )
        box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.finished.connect(self._closed)
        self.box = box
        box.open()

    def _closed(self, _result: int) -> None:
        self.box = None
