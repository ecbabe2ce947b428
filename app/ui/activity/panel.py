"""The activity panel: what captioning is doing, what failed, and model downloads.

A dock-sized widget (~300-400 px wide) the main window embeds. It turns caption
worker events into a progress bar and a status line, and does the user's actions
(pause, cancel, retry) through `QueueActions` on the background pool, so the GUI
thread never waits for the database. The window wires two things in: worker
events into `handle_worker_event`, and `queue_changed` to `WorkerBridge.nudge`
so the worker notices a pause, a cancel or a retry at once.

What the panel counts comes from the library itself (items captioned of all items,
failed, waiting), re-read after every caption event and change, never from tallies
kept since the engine started. Its layout does not move between states: the state
line, the current item (or the no-model card) and the wording above the buttons keep
their heights, and the lower area (failed items, a download) is a fixed-size stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.core.captioning.events import (
    AdapterFailed,
    Cancelled,
    CaptionEvent,
    Crashed,
    EmbeddingFailed,
    EmbeddingProgress,
    Failed,
    Fatal,
    Finished,
    Idle,
    MemberStatus,
    MetadataFailed,
    ModelLoaded,
    Paused,
    Progress,
    Recovered,
    Started,
    Waiting,
)
from app.core.queue_status import (
    CurrentItem,
    QueueActions,
    QueueSnapshot,
    RetryResult,
)
from app.core.user_errors import UserError, waiting_error
from app.services.background import Background
from app.services.changes import Changes
from app.ui.activity.meaning_line import MeaningLine
from app.ui.activity.servers_line import ServersLine
from app.ui.activity.widgets import (
    DownloadSection,
    DownloadSource,
    ElidedLabel,
    FailedSection,
    bytes_text,
    duration_text,
    rate_text,
)
from app.ui.theme import tone
from app.ui.words import counted, model_name

THUMB_SIDE = 56
LOWER_HEIGHT = 170  # the failed list or a download: one fixed area under the buttons
NOTE_LINES = 3
REFRESH_COALESCE_MS = 400  # failures arrive in bursts: one database read per burst
NOTE_MS = 8000  # how long a note ("Queued 3 again") stays
CANCEL_CONFIRM_MS = 4000  # "Cancel all" needs a second click within this time
# Colours from the theme: each 4.5:1 or more on the window, light and dark (app.ui.theme).
STYLE = """
QLabel[tone="warn"] { color: %(warn)s; font-weight: 600; }
QLabel[tone="busy"] { font-weight: 600; }
QLabel[tone="ok"] { color: %(ok)s; font-weight: 600; }
QLabel[tone="muted"] { color: palette(placeholder-text); }
QLabel#thumbnail { background: palette(alternate-base); border-radius: 6px; }
"""


@dataclass(frozen=True)
class ModelOffer:
    """The model the no-model card offers: the catalog's default for this computer."""

    model_id: str
    name: str
    download_mb: int

    @property
    def button_text(self) -> str:
        return f"Download {self.name} — {bytes_text(self.download_mb * 1_000_000)}"


def default_offer() -> ModelOffer | None:
    """The catalog's default CPU model (the one that runs anywhere); None without a catalog."""
    from models.catalog import load_catalog
    from models.errors import CatalogError
    from models.hardware import CPU_DEFAULT

    try:
        catalog = load_catalog()
    except CatalogError:
        return None
    entry = catalog.get(CPU_DEFAULT) or min(catalog, key=lambda e: e.download_mb)
    return ModelOffer(entry.id, entry.name, entry.download_mb)


def library_line(snap: QueueSnapshot) -> str:
    """What is true of the library now: "13 of 14 captioned · 1 failed · 2 waiting"."""
    if snap.items == 0:
        return "No photos or videos yet"
    parts = [f"{snap.captioned:,} of {counted(snap.items, 'item')} captioned"]
    if snap.all_captioned:
        parts = [f"All {counted(snap.items, 'item')} captioned"]
    if snap.counts.failed:
        parts.append(f"{snap.counts.failed:,} failed")
    if snap.counts.waiting:
        parts.append(f"{snap.counts.waiting:,} waiting")
    return " · ".join(parts)


def resting_headline(snap: QueueSnapshot) -> tuple[str, str]:
    """The state line when nothing is being captioned: (text, tone)."""
    if snap.items == 0:
        return "Nothing to caption yet", "muted"
    failed, waiting = snap.counts.failed, snap.counts.waiting
    if snap.paused and waiting:
        return "Paused", "busy"
    if snap.all_captioned and not failed:
        return "All captioned", "ok"
    if failed and not waiting:
        return f"{counted(failed, 'item')} could not be captioned", "warn"
    if waiting:
        return "Waiting to caption", "busy"
    return f"{snap.captioned:,} of {snap.items:,} captioned", "muted"


class ActivityPanel(QWidget):
    """Captioning progress, pause/resume/cancel, failed items with Retry, downloads."""

    pause_requested = Signal(bool)  # True: pause; emitted on the click, stored after
    cancel_requested = Signal()
    queue_changed = Signal()  # a pause/resume/cancel/retry was stored: nudge the worker
    current_item_changed = Signal(int)  # item id: the window fetches its thumbnail
    download_requested = Signal(str)  # model id: the no-model card's Download button
    choose_model_requested = Signal()  # "Use my own model files…": the window opens Settings

    def __init__(
        self,
        actions: QueueActions,
        background: Background | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._actions = actions
        self._owns_background = background is None
        self._background = background or Background(self, threads=1)
        self._state = "starting"  # working | paused | idle | waiting | no_model | crashed
        self._current_id: int | None = None
        self._rate: tuple[float, float | None] | None = None  # per minute, ETA: while working
        self._snapshot: QueueSnapshot | None = None
        self._offer: ModelOffer | None = None
        self._serial = 0  # drops refresh results older than the newest action
        self._cancel_armed = False
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_COALESCE_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self._note_timer = QTimer(self, singleShot=True, interval=NOTE_MS)
        self._note_timer.timeout.connect(self._clear_note)
        self._disarm_timer = QTimer(self, singleShot=True, interval=CANCEL_CONFIRM_MS)
        self._disarm_timer.timeout.connect(self._disarm_cancel)
        self._build()
        self.refresh()
        self._run(default_offer, self.set_offer, lambda _m: None)

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.setStyleSheet(STYLE % {"warn": tone("warn").name(), "ok": tone("ok").name()})
        self.setMinimumWidth(260)
        title = QLabel("<b>Activity</b>")
        self.status = QLabel("Starting the caption engine…")
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        self.details_button = QPushButton("Details")
        self.details_button.setObjectName("details_button")
        self.details_button.setCheckable(True)
        self.details_button.setFlat(True)
        self.details_button.setToolTip("What went wrong, as the caption engine reported it")
        self.details_button.toggled.connect(self._toggle_details)
        _keep_space(self.details_button)
        self.details_button.hide()
        status_row = QHBoxLayout()
        status_row.setContentsMargins(0, 0, 0, 0)
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        self.status_box = QWidget()
        self.status_box.setLayout(status_row)
        self.status_box.setFixedHeight(
            max(2 * self.fontMetrics().lineSpacing() + 4, self.details_button.sizeHint().height())
        )

        self.thumbnail = QLabel()
        self.thumbnail.setObjectName("thumbnail")
        self.thumbnail.setFixedSize(THUMB_SIDE, THUMB_SIDE)
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.current_name = ElidedLabel()
        self.current_name.setObjectName("current_name")
        self.current_folder = ElidedLabel()
        self.current_folder.setProperty("tone", "muted")
        names = QVBoxLayout()
        names.setSpacing(2)
        names.addStretch()
        names.addWidget(self.current_name)
        names.addWidget(self.current_folder)
        names.addStretch()
        current = QHBoxLayout()
        current.setSpacing(8)
        current.addWidget(self.thumbnail)
        current.addLayout(names, 1)
        current.setContentsMargins(0, 0, 0, 0)
        self.current_box = QWidget()
        self.current_box.setLayout(current)
        _keep_space(self.current_box)
        self.current_box.hide()
        self.current_page = current_page = QWidget()
        current_layout = QVBoxLayout(current_page)
        current_layout.setContentsMargins(0, 0, 0, 0)
        current_layout.addWidget(self.current_box)
        current_layout.addStretch()

        self.download_model_button = QPushButton("Download a model")
        self.download_model_button.setObjectName("download_model_button")
        self.download_model_button.setEnabled(False)  # until the catalog is read
        self.download_model_button.clicked.connect(self._download_clicked)
        self.download_model_button.installEventFilter(self)
        self.own_model_button = QPushButton("Use my own model files…")
        self.own_model_button.setObjectName("own_model_button")
        self.own_model_button.setToolTip("Choose a GGUF model and its vision projector (mmproj)")
        self.own_model_button.clicked.connect(self.choose_model_requested)
        for button in (self.download_model_button, self.own_model_button):
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.no_model_card = QWidget()
        self.no_model_card.setObjectName("no_model_card")
        card = QVBoxLayout(self.no_model_card)
        card.setContentsMargins(0, 0, 0, 0)
        card.setSpacing(4)
        card.addWidget(self.download_model_button)
        card.addWidget(self.own_model_button)
        card.addStretch()

        self.detail_text = QLabel()
        self.detail_text.setObjectName("detail_text")
        self.detail_text.setWordWrap(True)
        self.detail_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail_text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.detail_text.setProperty("tone", "muted")
        self.detail_text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

        self.body = QStackedWidget()
        self.body.setObjectName("activity_body")
        self.body.addWidget(current_page)
        self.body.addWidget(self.no_model_card)
        self.body.addWidget(self.detail_text)
        # The Download button may need a second line for the size in a narrow sidebar.
        self.body.setFixedHeight(
            max(
                THUMB_SIDE,
                self.no_model_card.sizeHint().height() + self.fontMetrics().lineSpacing(),
                self._lines(3),
            )
        )

        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("progress_label")
        self.progress_label.setWordWrap(True)
        self.progress_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.progress_label.setFixedHeight(self._lines(2))

        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Pause captioning after the current item (kept on restart)")
        self.pause_button.clicked.connect(self._pause_clicked)
        self.cancel_button = QPushButton("Cancel all")
        self.cancel_button.setToolTip("Stop captioning and drop everything waiting in the queue")
        self.cancel_button.setIcon(self._icon(QStyle.StandardPixmap.SP_DialogCancelButton))
        self.cancel_button.clicked.connect(self._cancel_clicked)
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        self.note = QLabel("")
        self.note.setObjectName("note")
        self.note.setWordWrap(True)
        self.note.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.note.setProperty("tone", "muted")
        self.note.setFixedHeight(self._lines(NOTE_LINES))
        _keep_space(self.note)
        self.note.hide()

        self.download = DownloadSection()
        self.download.note.connect(self._show_note)
        self.download.visibility_changed.connect(self._show_lower)
        self.download.busy_changed.connect(self._download_busy)
        self.failed = FailedSection(self._icon(QStyle.StandardPixmap.SP_MessageBoxWarning))
        self.failed.retry_requested.connect(self._retry)
        self.failed.visibility_changed.connect(self._show_lower)
        self.lower_area = QStackedWidget()
        self.lower_area.setObjectName("activity_lower")
        self.lower_area.addWidget(QWidget())  # nothing to show
        self.lower_area.addWidget(self.failed)
        self.lower_area.addWidget(self.download)
        self.lower_area.setFixedHeight(LOWER_HEIGHT)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)
        layout.addWidget(title)
        layout.addWidget(self.status_box)
        layout.addWidget(self.body)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        self.servers_line = ServersLine()
        layout.addWidget(self.servers_line)
        self.meaning_line = MeaningLine()
        layout.addWidget(self.meaning_line)
        layout.addLayout(buttons)
        layout.addWidget(self.note)
        layout.addWidget(self.lower_area)
        # One height in every state: the folders above never jump.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._show_pause(False)
        self._show_placeholder("photo")

    def _lines(self, count: int) -> int:
        return count * self.fontMetrics().lineSpacing() + 2

    def _icon(self, which: QStyle.StandardPixmap) -> Any:
        return self.style().standardIcon(which)

    def _show_lower(self) -> None:
        """A download (running, or failed until dismissed) comes first, then failures."""
        if self.download.wants_space():
            self.lower_area.setCurrentWidget(self.download)
        elif self.failed.wants_space():
            self.lower_area.setCurrentWidget(self.failed)
        else:
            self.lower_area.setCurrentIndex(0)

    # -- worker events ------------------------------------------------------------------
    def handle_worker_event(self, event: CaptionEvent) -> None:
        """One event of the caption worker (WorkerBridge.event_received)."""
        match event:
            case Started():
                self._started(event)
            case Progress():
                self._show_rate(event)
            case Finished() | Failed() | Cancelled():
                self._refresh_timer.start()  # coalesced: a burst is one read
            case Paused():
                if self._enter("paused"):
                    self._set_status("Paused", "busy")
                    self._show_pause(True)
            case Idle():
                if self._enter("idle"):
                    self._show_resting()
            case Fatal():
                self._waiting(event)
            case MemberStatus():  # an inference server's health and throughput
                self.servers_line.update_member(event)
            case EmbeddingProgress() | EmbeddingFailed():  # search by meaning (issue 14)
                self.meaning_line.show_event(event)
            case Waiting():  # no inference server can take captions now (issue 13)
                self._enter("waiting")
                self._set_status(f"Waiting: {event.reason}", "warn")
            case ModelLoaded():
                self._enter("starting")
                adapter = f" with your adapter {event.adapter}" if event.adapter else ""
                self._set_status(
                    f"Model ready: {model_name(event.model)}{adapter} "
                    f"(loaded in {event.seconds:.1f} s)",
                    "ok",
                )
            case AdapterFailed():
                self._show_note(
                    f"Your fine-tuned adapter {event.adapter} could not be loaded; "
                    "captioning without it",
                    "warn",
                    detail=event.error,
                )
            case MetadataFailed():
                self._show_note(
                    "Caption saved, but it could not be written into the file's metadata",
                    "warn",
                    detail=event.error,
                )
            case Crashed():
                self._enter("crashed")
                delay = event.restart_in
                when = f" in {duration_text(float(delay))}" if delay else ""
                self._set_status(
                    f"The caption engine stopped unexpectedly; restarting{when}…", "warn"
                )
            case Recovered():
                requeued, failed = event.requeued, event.failed
                text = f"Restarted: {counted(requeued, 'item')} back in the queue"
                if failed:
                    text += f", {failed} skipped after crashing the engine (in safe mode too)"
                self._show_note(text)
                self._refresh_timer.start()

    def _enter(self, state: str) -> bool:
        """Switch state; the worker repeats idle/paused every second, so only a change
        refreshes the view (and reads the database, where the pause setting lives)."""
        changed = state != self._state
        self._state = state
        if state != "working":
            self._set_current(None)
            self._rate = None  # a rate and an ETA would be stale now
        if state not in ("no_model", "waiting"):
            self._set_detail(None)
        if not self.details_button.isChecked():
            self._toggle_details(False)
        if changed:
            self._refresh_timer.start()
        return changed

    def _waiting(self, event: Fatal) -> None:
        """The worker cannot caption: say why in a sentence, the raw reason behind Details;
        with no model, offer one (the card's buttons)."""
        explained = waiting_error(event.error or "no reason given", event.reason)
        self._enter("no_model" if event.needs_a_model else "waiting")
        self._set_status(explained.sentence, "busy" if event.needs_a_model else "warn")
        self._set_detail(explained)

    @property
    def state(self) -> str:
        return self._state

    def _started(self, event: Started) -> None:
        self._enter("working")
        self._set_status("Captioning…", "busy")
        self._set_current(event.item, event.kind or "photo")

    def _show_rate(self, event: Progress) -> None:
        """The worker's rate and time left; what is done comes from the library."""
        if self._state != "working":
            return
        self._rate = (event.per_minute, event.eta_seconds)
        self._show_counts()

    def _show_counts(self) -> None:
        snap = self._snapshot
        if snap is None:
            return
        self.progress.setRange(0, max(snap.items, 1))
        self.progress.setValue(min(snap.captioned, snap.items))
        text = library_line(snap)
        if self._state == "working" and self._rate is not None:
            rate = rate_text(*self._rate)
            text += f" · {rate}" if rate else ""
        self.progress_label.setText(text)

    def _show_resting(self) -> None:
        if self._snapshot is not None:
            self._set_status(*resting_headline(self._snapshot))

    # -- the no-model card and details ---------------------------------------------------
    def set_offer(self, offer: ModelOffer | None) -> None:
        """The model the Download button offers (read from the catalog)."""
        self._offer = offer
        if offer is not None and not self.download.busy():
            self._fit_download_text()
            self.download_model_button.setToolTip(
                f"Download {offer.name} ({offer.model_id}) into this library's models folder"
            )
            self.download_model_button.setEnabled(True)

    def _fit_download_text(self) -> None:
        """ "Download SmolVLM2 500M Video — 546 MB" on one line where it fits, else the
        size on a second line (a QPushButton does not elide)."""
        offer = self._offer
        if offer is None or self.download.busy():
            return
        text = offer.button_text
        room = self.download_model_button.width() - 24
        if self.download_model_button.fontMetrics().horizontalAdvance(text) > room:
            text = text.replace(" — ", "\n")
        self.download_model_button.setText(text)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.download_model_button and event.type() == QEvent.Type.Resize:
            self._fit_download_text()
        return super().eventFilter(watched, event)

    def _download_clicked(self) -> None:
        if self._offer is not None:
            self.download_requested.emit(self._offer.model_id)

    def _download_busy(self, busy: bool) -> None:
        if busy:
            self.download_model_button.setText("Downloading…")
            self.download_model_button.setEnabled(False)
        else:
            self.set_offer(self._offer)

    def _set_detail(self, explained: UserError | None) -> None:
        has = explained is not None and explained.has_detail
        self.detail_text.setText(explained.detail if explained and has else "")
        self.status.setToolTip(explained.detail if explained and has else "")
        if not has:
            self.details_button.setChecked(False)
        self.details_button.setVisible(has)

    def _toggle_details(self, shown: bool) -> None:
        if shown:
            self.body.setCurrentWidget(self.detail_text)
        else:
            self.body.setCurrentWidget(
                self.no_model_card if self._state == "no_model" else self.current_page
            )

    # -- current item ---------------------------------------------------------------------
    def _set_current(self, item_id: int | None, kind: str = "photo") -> None:
        if item_id == self._current_id:
            return
        self._current_id = item_id
        self.current_box.setVisible(item_id is not None)
        if item_id is None:
            return
        self._show_placeholder(kind)
        self.current_name.set_full_text("…")
        self.current_folder.set_full_text("")
        self.current_item_changed.emit(item_id)
        self._run(lambda: self._actions.current_item(item_id), self._show_current_item)

    def _show_current_item(self, item: CurrentItem | None) -> None:
        if item is None or item.item_id != self._current_id:
            return  # the worker moved on while the name was read
        self.current_name.set_full_text(item.name)
        self.current_folder.set_full_text(item.folder)

    def set_current_thumbnail(self, item_id: int, pixmap: QPixmap) -> None:
        """The window's thumbnail of the item being captioned; stale ones are dropped."""
        if item_id != self._current_id or pixmap.isNull():
            return
        ratio = self.devicePixelRatioF()
        side = round(THUMB_SIDE * ratio)
        scaled = pixmap.scaled(
            side,
            side,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        scaled.setDevicePixelRatio(ratio)
        self.thumbnail.setPixmap(scaled)
        self.thumbnail.setProperty("placeholder", False)

    def _show_placeholder(self, kind: str) -> None:
        which = (
            QStyle.StandardPixmap.SP_MediaPlay
            if kind == "video"
            else QStyle.StandardPixmap.SP_FileIcon
        )
        self.thumbnail.setPixmap(self._icon(which).pixmap(24, 24))
        self.thumbnail.setProperty("placeholder", True)

    @property
    def current_item_id(self) -> int | None:
        return self._current_id

    # -- the user's actions ------------------------------------------------------------------
    def _pause_clicked(self, paused: bool) -> None:
        self._show_pause(paused)
        self.pause_requested.emit(paused)
        if paused:
            working = self._state == "working"
            self._set_status("Pausing after the current item…" if working else "Paused", "busy")
        else:
            self._set_status("Resuming…", "busy")
        self._serial += 1  # a refresh already under way may carry the old setting

        def undo(message: str) -> None:
            self._show_pause(not paused)
            self._show_error("Could not change the pause", message)

        self._run(lambda: self._actions.set_paused(paused), lambda _r: self._stored(), undo)

    def _show_pause(self, paused: bool) -> None:
        self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        icon = QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause
        self.pause_button.setIcon(self._icon(icon))

    def _cancel_clicked(self) -> None:
        if not self._cancel_armed:
            self._cancel_armed = True
            self.cancel_button.setText("Click to confirm")
            self._disarm_timer.start()
            return
        self._disarm_cancel()
        self.cancel_all()

    def _disarm_cancel(self) -> None:
        self._cancel_armed = False
        self._disarm_timer.stop()
        self.cancel_button.setText("Cancel all")

    def cancel_all(self) -> None:
        """Cancel every queued and running caption job (the button, once confirmed)."""
        self.cancel_requested.emit()
        self._serial += 1

        def cancelled(count: int) -> None:
            self._show_note(f"Cancelled {counted(count, 'caption job')}")
            self._stored()

        self._run(
            self._actions.cancel_all, cancelled, lambda m: self._show_error("Could not cancel", m)
        )

    def _retry(self, item_ids: list[int] | None) -> None:
        """Retry these items (None: every failed item)."""
        self._serial += 1

        def retried(result: RetryResult) -> None:
            text = f"Queued {counted(result.queued, 'item')} again"
            if result.unreadable:
                text += f"; {result.unreadable:,} still can't be read"
            self._show_note(text)
            self._stored()

        work: Callable[[], RetryResult] = (
            self._actions.retry_all if item_ids is None else lambda: self._actions.retry(item_ids)
        )
        self._run(work, retried, lambda m: self._show_error("Could not retry", m))

    def _stored(self) -> None:
        self.queue_changed.emit()
        self.refresh()

    # -- database snapshot ------------------------------------------------------------------
    def apply_changes(self, changes: Changes) -> None:
        """Anything that can move the counts (captions, deletes, folders, the queue)
        re-reads the library; a burst of them is one read."""
        if changes.queue or changes.counts or changes.folders:
            self._refresh_timer.start()
        if "embedding_model" in changes.settings:
            self.meaning_line.reset()

    def refresh(self) -> None:
        """Read counts, the pause setting and the failed list off the GUI thread."""
        self._serial += 1
        serial = self._serial
        self._run(lambda: (serial, self._actions.snapshot()), self._show_snapshot)

    def _show_snapshot(self, result: tuple[int, QueueSnapshot]) -> None:
        serial, snap = result
        if serial != self._serial:
            return  # an action changed the queue after this read began
        self._snapshot = snap
        self._show_pause(snap.paused)
        self.failed.show_items(snap.failed, snap.counts.failed)
        waiting = snap.counts.waiting
        if self._state != "working":
            self.cancel_button.setEnabled(waiting > 0)
        self._show_counts()
        if self._state in ("idle", "paused") or (self._state == "starting" and snap.paused):
            self._show_resting()

    # -- downloads -----------------------------------------------------------------------------
    def attach_download(self, bridge: DownloadSource) -> None:
        """Show a model download's progress (a DownloadBridge or anything with its
        signals progress/finished/failed and a cancel() method)."""
        self.download.attach(bridge)

    # -- helpers ---------------------------------------------------------------------------------
    def _run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._background.run(
            fn, on_done, on_error or (lambda m: self._show_error("Could not read the queue", m))
        )

    def _set_status(self, text: str, tone: str) -> None:
        self._set_tone(self.status, text, tone)

    def show_warning(self, text: str) -> None:
        """A warning from elsewhere in the app (a setting replaced by its default at
        open), on the note line the panel's own warnings use."""
        self._show_note(text, "warn")

    def _show_note(self, text: str, tone: str = "muted", detail: str = "") -> None:
        self._set_tone(self.note, text, tone)
        self.note.setToolTip(detail or text)  # a long warning is cut at three lines
        self.note.show()
        self._note_timer.start()

    def _show_error(self, what: str, message: str) -> None:
        self._show_note(what, "warn", detail=message)

    def _clear_note(self) -> None:
        self.note.hide()
        self.note.clear()

    @staticmethod
    def _set_tone(label: QLabel, text: str, tone: str) -> None:
        label.setText(text)
        label.setProperty("tone", tone)
        label.style().unpolish(label)
        label.style().polish(label)

    def shutdown(self, msecs: int = 1000) -> None:
        """Stop timers and, if the panel made its own pool, wait for its tasks
        (call before the database closes)."""
        for timer in (self._refresh_timer, self._note_timer, self._disarm_timer):
            timer.stop()
        self.download.detach()
        if self._owns_background:
            self._background.wait(msecs)


def _keep_space(widget: QWidget) -> None:
    """Hidden, the widget still takes its place: nothing below it moves."""
    policy = widget.sizePolicy()
    policy.setRetainSizeWhenHidden(True)
    widget.setSizePolicy(policy)
