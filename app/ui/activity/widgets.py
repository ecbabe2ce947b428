"""The activity panel's parts: an eliding label, the failed list with Retry, the
model download section, and the wording of progress and sizes.

Split from activity_panel.py to keep each module small; nothing here touches the
database, so these parts are free to live on the GUI thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Protocol

from PySide6.QtCore import QSize, Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import QIcon, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.queue_status import FailedItem
from app.core.user_errors import caption_error, download_error
from app.ui.words import model_name

ID_ROLE = Qt.ItemDataRole.UserRole
BAR_STEPS = 1000  # QProgressBar holds a C int: multi-GB downloads are shown per mille
CANCEL_GRACE_MS = 3000  # a cancelled download that never reports back is hidden anyway


# -- wording ------------------------------------------------------------------------------
def duration_text(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def rate_text(per_minute: float, eta_seconds: Any) -> str:
    """ "18/min · about 20 min left" (each part once known; "" before)."""
    parts = []
    if per_minute > 0:
        parts.append(f"{per_minute:.0f}/min" if per_minute >= 10 else f"{per_minute:.1f}/min")
    if eta_seconds:
        parts.append(f"about {duration_text(float(eta_seconds))} left")
    return " · ".join(parts)


def bytes_text(count: float) -> str:
    """Decimal units, as download sites and file managers show them: "480 MB"."""
    if count < 1000:
        return f"{count:.0f} B"
    for unit in ("KB", "MB", "GB"):
        count /= 1000
        if count < 1000 or unit == "GB":
            break
    number = f"{count:.1f}".removesuffix(".0") if count < 10 else f"{count:.0f}"
    return f"{number} {unit}"


def download_text(done: int, total: int, bytes_per_s: float, eta_seconds: Any) -> str:
    """ "120 MB of 480 MB · 8.1 MB/s · about 45 s left"."""
    parts = [f"{bytes_text(done)} of {bytes_text(total)}" if total > 0 else bytes_text(done)]
    if bytes_per_s > 0:
        parts.append(f"{bytes_text(bytes_per_s)}/s")
    if eta_seconds:
        parts.append(f"about {duration_text(float(eta_seconds))} left")
    return " · ".join(parts)


# -- an eliding label -------------------------------------------------------------------------
class ElidedLabel(QLabel):
    """One line that shortens in the middle (keeping the extension) to its width;
    the full text is the tooltip, so a long name never widens the dock."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def minimumSizeHint(self) -> QSize:
        return QSize(20, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        metrics = self.fontMetrics()
        self.setText(metrics.elidedText(self._full, Qt.TextElideMode.ElideMiddle, self.width()))


# -- failed items --------------------------------------------------------------------------------
class FailedSection(QWidget):
    """Failed items with their reasons; Retry (the selected ones) and Retry all."""

    retry_requested = Signal(object)  # list[int] of item ids, or None for all
    visibility_changed = Signal()  # wants_space() may differ: the panel picks what to show

    def __init__(self, icon: QIcon, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._icon = icon
        self._wanted = False
        self.header = QLabel()
        self.header.setObjectName("failed_header")
        self.list = QListWidget()
        self.list.setObjectName("failed_list")
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setMinimumHeight(80)
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.retry_button = QPushButton("Retry")
        self.retry_button.setToolTip("Try the selected items again, ahead of other work")
        self.retry_button.setEnabled(False)
        self.retry_button.clicked.connect(self._retry_selected)
        self.retry_all_button = QPushButton("Retry all")
        self.retry_all_button.clicked.connect(lambda: self.retry_requested.emit(None))
        buttons = QHBoxLayout()
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.retry_all_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.header)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

    def wants_space(self) -> bool:
        """True while there are failed items to show."""
        return self._wanted

    def show_items(self, items: Sequence[FailedItem], total: int) -> None:
        """Replace the list, keeping the user's selection across refreshes."""
        selected = set(self.selected_ids())
        self.list.clear()
        for failed in items:
            if failed.unreadable:
                reason, detail = "Can't read the file", failed.error
            else:
                explained = caption_error(failed.error, _kind_of(failed.name))
                reason, detail = explained.sentence, explained.detail
            row = QListWidgetItem(self._icon, f"{failed.name}\n{reason}")
            row.setToolTip(f"{failed.path}\n\n{reason}\n{detail}")
            row.setData(ID_ROLE, failed.item_id)
            self.list.addItem(row)
            row.setSelected(failed.item_id in selected)
        shown = len(items)
        more = f" — newest {shown:,} shown" if total > shown else ""
        self.header.setText(f"<b>Failed ({total:,})</b>{more}")
        if self._wanted != (total > 0):
            self._wanted = total > 0
            self.visibility_changed.emit()
        self._selection_changed()

    def selected_ids(self) -> list[int]:
        return [int(row.data(ID_ROLE)) for row in self.list.selectedItems()]

    def _selection_changed(self) -> None:
        self.retry_button.setEnabled(bool(self.list.selectedItems()))

    def _retry_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.retry_requested.emit(ids)


# -- model download ------------------------------------------------------------------------------
class DownloadSource(Protocol):
    """What DownloadSection follows: a DownloadBridge, or anything with its signals
    progress/finished/failed and a cancel() method (a `cancelled` signal is optional)."""

    @property
    def progress(self) -> SignalInstance: ...
    @property
    def finished(self) -> SignalInstance: ...
    @property
    def failed(self) -> SignalInstance: ...
    def cancel(self) -> None: ...


class DownloadSection(QFrame):
    """A model download: bytes, rate, ETA and Cancel; hidden unless one runs. A
    failure stays on screen with its reason until dismissed."""

    note = Signal(str)  # "Downloaded …", "Download cancelled": for the panel's note line
    visibility_changed = Signal()  # wants_space() may differ
    busy_changed = Signal(bool)  # a download runs (True) or ended (False)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._wanted = False
        self._busy = False
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._bridge: DownloadSource | None = None
        self._cancelling = False
        self._failed = False
        self._cancel_grace = QTimer(self, singleShot=True, interval=CANCEL_GRACE_MS)
        self._cancel_grace.timeout.connect(self._cancel_settled)
        self.title = ElidedLabel()
        self.title.setObjectName("download_title")
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        self.label = QLabel()
        self.label.setObjectName("download_label")
        self.label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel_clicked)
        row = QHBoxLayout()
        row.addWidget(self.label, 1)
        row.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.bar)
        layout.addLayout(row)
        layout.addStretch(1)

    def wants_space(self) -> bool:
        """True while a download runs, or its failure waits to be dismissed."""
        return self._wanted

    def busy(self) -> bool:
        return self._busy

    def _set_wanted(self, wanted: bool, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
        if wanted != self._wanted:
            self._wanted = wanted
            self.visibility_changed.emit()

    def attach(self, bridge: DownloadSource) -> None:
        self.detach()
        self._bridge = bridge
        bridge.progress.connect(self._progress)
        bridge.finished.connect(self._finished)
        bridge.failed.connect(self._failed_with)
        if hasattr(bridge, "cancelled"):  # a cancel from elsewhere (Settings, welcome)
            bridge.cancelled.connect(self._cancelled_elsewhere)

    def detach(self) -> None:
        self._cancel_grace.stop()
        bridge, self._bridge = self._bridge, None
        if bridge is None:
            return
        for name, slot in (
            ("progress", self._progress),
            ("finished", self._finished),
            ("failed", self._failed_with),
            ("cancelled", self._cancelled_elsewhere),
        ):
            # The bridge is gone, or has no such signal (cancelled is optional).
            with contextlib.suppress(RuntimeError, TypeError, AttributeError):
                getattr(bridge, name).disconnect(slot)

    def _progress(
        self, model_id: str, done: int, total: int, bytes_per_s: float, eta_seconds: object
    ) -> None:
        if self._cancelling:
            return
        self._failed = False
        self.title.set_full_text(f"Downloading {model_name(model_id)}")
        if total > 0:
            self.bar.setRange(0, BAR_STEPS)
            self.bar.setValue(min(BAR_STEPS, done * BAR_STEPS // total))
        else:
            self.bar.setRange(0, 0)  # size unknown: a busy bar
        self.bar.show()
        self.label.setText(download_text(done, total, bytes_per_s, eta_seconds))
        self.cancel_button.setText("Cancel")
        self.cancel_button.setEnabled(True)
        self._set_wanted(True, busy=True)

    def _cancelled_elsewhere(self, model_id: str) -> None:
        self._cancel_settled()
        self.note.emit(f"Download of {model_name(model_id)} cancelled")

    def _finished(self, model_id: str) -> None:
        self._cancel_settled()
        self.note.emit(f"Downloaded {model_name(model_id)}")

    def _failed_with(self, model_id: str, message: str) -> None:
        if self._cancelling:
            self._cancel_settled()
            self.note.emit(f"Download of {model_name(model_id)} cancelled")
            return
        self._failed = True
        explained = download_error(model_name(model_id), message)
        self.title.set_full_text(explained.sentence)
        self.title.setToolTip(f"{explained.sentence}\n{explained.detail}")
        self.bar.hide()
        self.label.setText(explained.detail)
        self.cancel_button.setText("Dismiss")
        self.cancel_button.setEnabled(True)
        self._set_wanted(True, busy=False)

    def _cancel_clicked(self) -> None:
        if self._failed or self._bridge is None:
            self._failed = False
            self._set_wanted(False, busy=False)
            return
        self._cancelling = True
        self.label.setText("Cancelling…")
        self.cancel_button.setEnabled(False)
        self._cancel_grace.start()
        self._bridge.cancel()

    def _cancel_settled(self) -> None:
        self._cancel_grace.stop()
        self._cancelling = False
        self._set_wanted(False, busy=False)


def _kind_of(name: str) -> str:
    """ "video" or "photo", by the file's extension (for the sentence only)."""
    video = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mts", ".3gp")
    return "video" if name.lower().endswith(video) else "photo"
