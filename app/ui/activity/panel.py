"""The activity panel: what captioning is doing, what failed, and model downloads.

A dock-sized widget (~300-400 px wide) the main window embeds. It turns caption
worker events into a progress bar and a status line, and does the user's actions
(pause, cancel, retry) through `QueueActions` on the background pool, so the GUI
thread never waits for the database. The window wires two things in: worker
events into `handle_worker_event`, and `queue_changed` to `WorkerBridge.nudge`
so the worker notices a pause, a cancel or a retry at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPalette, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.core.captioning.events import (
    AdapterFailed,
    Cancelled,
    CaptionEvent,
    Crashed,
    Failed,
    Fatal,
    Idle,
    MetadataFailed,
    ModelLoaded,
    Paused,
    Progress,
    Recovered,
    Started,
)
from app.core.queue_status import (
    CurrentItem,
    QueueActions,
    QueueSnapshot,
    RetryResult,
)
from app.core.text import plural
from app.services.background import Background
from app.services.changes import Changes
from app.ui.activity.widgets import (
    DownloadSection,
    DownloadSource,
    ElidedLabel,
    FailedSection,
    duration_text,
    progress_text,
)

THUMB_SIDE = 56
REFRESH_COALESCE_MS = 400  # failures arrive in bursts: one database read per burst
NOTE_MS = 8000  # how long a note ("Queued 3 again") stays
CANCEL_CONFIRM_MS = 4000  # "Cancel all" needs a second click within this time
STYLE = """
QLabel[tone="warn"] { color: #b0521a; font-weight: 600; }
QLabel[tone="busy"] { font-weight: 600; }
QLabel[tone="ok"] { color: #2e7d32; font-weight: 600; }
QLabel[tone="muted"] { color: %(muted)s; }
QLabel#thumbnail { background: palette(alternate-base); border-radius: 6px; }
"""


class ActivityPanel(QWidget):
    """Captioning progress, pause/resume/cancel, failed items with Retry, downloads."""

    pause_requested = Signal(bool)  # True: pause; emitted on the click, stored after
    cancel_requested = Signal()
    queue_changed = Signal()  # a pause/resume/cancel/retry was stored: nudge the worker
    current_item_changed = Signal(int)  # item id: the window fetches its thumbnail

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
        self._state = "starting"  # working | paused | idle | waiting | crashed
        self._current_id: int | None = None
        self._progress: tuple[int, int] | None = None  # (done, total) this session
        self._snapshot: QueueSnapshot | None = None
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

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.setStyleSheet(STYLE % {"muted": _muted_color(self.palette())})
        self.setMinimumWidth(260)
        title = QLabel("<b>Activity</b>")
        self.status = QLabel("Starting the caption engine…")
        self.status.setObjectName("status")
        self.status.setWordWrap(True)

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
        self.current_box = QWidget()
        self.current_box.setLayout(current)
        current.setContentsMargins(0, 0, 0, 0)
        self.current_box.hide()

        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("progress_label")
        self.progress_label.setWordWrap(True)

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
        self.note.setProperty("tone", "muted")
        self.note.hide()

        self.download = DownloadSection()
        self.download.note.connect(self._show_note)
        self.failed = FailedSection(self._icon(QStyle.StandardPixmap.SP_MessageBoxWarning))
        self.failed.retry_requested.connect(self._retry)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)
        layout.addWidget(title)
        layout.addWidget(self.status)
        layout.addWidget(self.current_box)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addLayout(buttons)
        layout.addWidget(self.note)
        layout.addSpacing(4)
        layout.addWidget(self.download)
        layout.addWidget(self.failed, 1)
        layout.addStretch(0)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self._show_pause(False)
        self._show_placeholder("photo")

    def _icon(self, which: QStyle.StandardPixmap) -> Any:
        return self.style().standardIcon(which)

    # -- worker events ------------------------------------------------------------------
    def handle_worker_event(self, event: CaptionEvent) -> None:
        """One event of the caption worker (WorkerBridge.event_received)."""
        match event:
            case Started():
                self._started(event)
            case Progress():
                self._show_progress(event)
            case Failed() | Cancelled():
                self._refresh_timer.start()  # coalesced: a burst is one read
            case Paused():
                if self._enter("paused"):
                    self._set_status("Paused", "busy")
                    self._show_pause(True)
            case Idle():
                if self._enter("idle"):
                    self._show_idle()
            case Fatal():
                self._enter("waiting")
                self._set_status(f"Captioning waits: {event.error or 'no reason given'}", "warn")
            case ModelLoaded():
                adapter = f" with your adapter {event.adapter}" if event.adapter else ""
                self._set_status(
                    f"Model ready: {event.model}{adapter} (loaded in {event.seconds:.1f} s)", "ok"
                )
            case AdapterFailed():
                self._show_note(
                    f"Your fine-tuned adapter {event.adapter} could not be loaded "
                    f"({event.error or 'no reason given'}); captioning without it",
                    "warn",
                )
            case MetadataFailed():
                self._show_note(
                    f"Caption saved, but not written to the file's metadata: "
                    f"{event.error or 'no reason given'}",
                    "warn",
                )
            case Crashed():
                self._enter("crashed")
                delay = event.restart_in
                when = f" in {duration_text(float(delay))}" if delay else ""
                self._set_status(
                    f"The caption engine stopped unexpectedly; restarting{when}…", "warn"
                )
                self._progress = None  # the restarted worker counts from zero
            case Recovered():
                requeued, failed = event.requeued, event.failed
                text = f"Restarted: {requeued} {plural(requeued, 'item')} back in the queue"
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
            if changed and self._progress:  # a rate and an ETA would be stale now
                self.progress_label.setText(f"{self._progress[0]:,} of {self._progress[1]:,}")
        if changed:
            self._refresh_timer.start()
        return changed

    def _started(self, event: Started) -> None:
        self._enter("working")
        self._set_status("Captioning…", "busy")
        self._set_current(event.item, event.kind or "photo")

    def _show_progress(self, event: Progress) -> None:
        done, total = event.done, event.total
        self._progress = (done, total)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, total))
        self.progress_label.setText(progress_text(done, total, event.per_minute, event.eta_seconds))
        self.cancel_button.setEnabled(done < total)

    def _show_idle(self) -> None:
        failed = self._snapshot.counts.failed if self._snapshot else 0
        self._set_status("All captioned" + (f" · {failed} failed" if failed else ""), "ok")
        if self._progress:
            done = self._progress[0]
            self.progress.setRange(0, max(done, 1))
            self.progress.setValue(done)
            self.progress_label.setText(f"{done:,} captioned since the engine started")
        self.cancel_button.setEnabled(False)

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
            self._show_note(f"Cancelled {count:,} {plural(count, 'caption job')}")
            self._progress = None
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress_label.setText("Nothing waiting")
            self._stored()

        self._run(
            self._actions.cancel_all, cancelled, lambda m: self._show_error("Could not cancel", m)
        )

    def _retry(self, item_ids: list[int] | None) -> None:
        """Retry these items (None: every failed item)."""
        self._serial += 1

        def retried(result: RetryResult) -> None:
            text = f"Queued {result.queued:,} {plural(result.queued, 'item')} again"
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
        if changes.queue:
            self.refresh()

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
        if self._state == "idle":
            self._show_idle()
        elif self._state != "working" and waiting:
            self.progress_label.setText(f"{waiting:,} waiting for captions")
        if self._state == "starting" and snap.paused:
            self._set_status("Paused", "busy")

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

    def _show_note(self, text: str, tone: str = "muted") -> None:
        self._set_tone(self.note, text, tone)
        self.note.show()
        self._note_timer.start()

    def _show_error(self, what: str, message: str) -> None:
        self._show_note(f"{what}: {message}", "warn")

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


def _muted_color(palette: QPalette) -> str:
    """Secondary text: the text colour 40% of the way to the background, so it
    stays readable on light and dark themes alike."""
    text, back = (
        palette.color(QPalette.ColorRole.WindowText),
        palette.color(QPalette.ColorRole.Window),
    )
    mix = [
        round(a * 0.6 + b * 0.4)
        for a, b in zip(
            (text.red(), text.green(), text.blue()),
            (back.red(), back.green(), back.blue()),
            strict=True,
        )
    ]
    return "#{:02x}{:02x}{:02x}".format(*mix)
