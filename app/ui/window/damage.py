"""Damage found while the window is open (issue 12): SQLite answered "malformed" to a
statement of this process, or the caption worker stopped because it did.

From that moment the library is not written (app.core.storage.db refuses); this part
says so once, and offers to close the library and recover it: the window closes with
`recovery_wanted` set, and app.ui.application shows the recovery dialog (restore the
newest good backup, rebuild from the folders, or quit) before opening it again."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from app import APP_NAME
from app.core.storage.problems import LibraryDamaged

TITLE = f"{APP_NAME}: the library is damaged"


class DamageNotice(QObject):
    """Tell it about damage from any thread (`seen`); it asks the user on the GUI thread."""

    _arrived = Signal(str)

    def __init__(self, parent: QWidget, close_for_recovery: Callable[[], None]) -> None:
        super().__init__(parent)
        self._parent = parent
        self._close_for_recovery = close_for_recovery
        self.detail: str | None = None  # the first damage seen, once seen
        self.box: QMessageBox | None = None
        self._arrived.connect(self._ask, Qt.ConnectionType.QueuedConnection)

    def seen(self, detail: str) -> None:
        self._arrived.emit(detail)

    def seen_problem(self, problem: LibraryDamaged) -> None:
        self.seen(problem.detail)

    def _ask(self, detail: str) -> None:
        if self.detail is not None:
            return  # said once; the rest is the same damage found again
        self.detail = detail
        box = QMessageBox(
            QMessageBox.Icon.Critical,
            TITLE,
            "The library file turned out to be damaged while Captionist was using it "
            f"({detail}).\n\nNothing more is written into it, so nothing you have is "
            "overwritten. To recover, Captionist closes the library and offers to restore "
            "the newest good backup or to rebuild the library from its folders (your own "
            "captions come back from the metadata Captionist wrote into the files).",
            QMessageBox.StandardButton.NoButton,
            self._parent,
        )
        recover = box.addButton("Close and recover…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep browsing", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(recover)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(
            lambda button: self._close_for_recovery() if button is recover else None
        )
        box.finished.connect(self._closed)
        self.box = box
        box.open()

    def _closed(self, _result: int) -> None:
        self.box = None
