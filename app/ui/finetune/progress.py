"""The running fine-tune: phase, a progress bar, step / epoch / loss / ETA, the live loss
curve, and the job's log for the curious.

It is fed the bridge's signals (or a run's recorded events, when the screen is opened while
a run is going on in the background) and never reads anything itself. Step events can come
many times a second on a small model: the numbers and the curve are repainted at most
~10 times a second.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.finetune.events import Download, FinetuneEvent, Phase, Prepared, Step
from app.core.text import counted
from app.ui.activity.widgets import bytes_text, duration_text
from app.ui.finetune.chart import LossCurve
from app.ui.settings.common import NOTE_STYLE, error_style
from app.ui.theme import tone_style

PHASES = {
    "prepare": "Preparing your corrections",
    "download": "Downloading the model's original weights",
    "load": "Loading the model",
    "train": "Training",
    "export": "Saving the adapter for llama.cpp",
    "verify": "Checking the adapter loads",
    "evaluate": "Scoring before and after on the held-out corrections",
}
REPAINT_MS = 100
LOG_LINES = 2000


class ProgressPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._last_step: Step | None = None
        self._pending: list[Step] = []
        self._repaint = QTimer(self, singleShot=True, interval=REPAINT_MS)
        self._repaint.timeout.connect(self._flush_steps)
        self._build()
        self.reset()

    def _build(self) -> None:
        self.phase = QLabel()
        self.phase.setObjectName("phase_label")
        self.phase.setWordWrap(True)
        font = self.phase.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.phase.setFont(font)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(10)
        self.numbers = QLabel()
        self.numbers.setObjectName("step_label")
        self.numbers.setWordWrap(True)
        self.curve = LossCurve()
        self.curve.setObjectName("loss_curve")
        self.outcome = QLabel()
        self.outcome.setObjectName("outcome_label")
        self.outcome.setWordWrap(True)
        self.log = QPlainTextEdit()
        self.log.setObjectName("job_log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log.setVisible(False)
        self.log.setMinimumHeight(110)
        self.log_button = QPushButton("Show log")
        self.log_button.setCheckable(True)
        self.log_button.setFlat(True)
        self.log_button.toggled.connect(self._toggle_log)
        footer = QHBoxLayout()
        footer.addWidget(self.outcome, 1)
        footer.addWidget(self.log_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.phase)
        layout.addWidget(self.bar)
        layout.addWidget(self.numbers)
        layout.addWidget(self.curve, 1)
        layout.addLayout(footer)
        layout.addWidget(self.log)

    # -- a run --------------------------------------------------------------------------
    def reset(self) -> None:
        self._last_step = None
        self._pending.clear()
        self.phase.setText("Not started")
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.numbers.setText("Press Start to fine-tune on your corrections.")
        self.curve.clear()
        self.outcome.clear()
        self.outcome.setVisible(False)
        self.log.clear()

    def run_started(self) -> None:
        self.reset()
        self.phase.setText("Starting…")
        self.bar.setRange(0, 0)  # busy until the first phase says more
        self.numbers.setText("")

    def show_phase(self, phase: str, message: str) -> None:
        self.phase.setText(PHASES.get(phase, message or phase.capitalize()))
        if phase != "train" or self._last_step is None:
            self.bar.setRange(0, 0)
        if message and PHASES.get(phase) and phase != "train":
            self.numbers.setText(message)

    def show_prepared(self, event: Prepared) -> None:
        """How many examples the job made, and which corrections it had to skip, and why."""
        text = (
            f"{counted(event.examples, 'photo or video', 'photos or videos')} to train on, "
            f"{event.heldout} held out for scoring"
        )
        skipped = event.skipped
        if skipped:
            first = skipped[0]
            name = str(first.get("path", "")).rsplit("/", 1)[-1]
            more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
            text += f"; skipped {name} ({first.get('reason', 'unreadable')}){more}"
        self.numbers.setText(text)

    def show_download(self, done: int, total: int | None) -> None:
        if total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * done / total))
            self.numbers.setText(f"{bytes_text(done)} of {bytes_text(total)}")
        else:
            self.numbers.setText(f"{bytes_text(done)} downloaded")

    def show_step(self, report: Step) -> None:
        self._pending.append(report)
        if not self._repaint.isActive():
            self._repaint.start()

    def _flush_steps(self) -> None:
        pending, self._pending = self._pending, []
        for report in pending:
            self.curve.add_point(report.step, report.loss, report.total_steps, report.epochs)
        if pending:
            self._show_numbers(pending[-1])

    def _show_numbers(self, report: Step) -> None:
        self._last_step = report
        self.phase.setText(PHASES["train"])
        self.bar.setRange(0, max(1, report.total_steps))
        self.bar.setValue(report.step)
        epoch = min(report.epochs, int(report.epoch) + 1) if report.epochs else 0
        parts = [f"Step {report.step} of {report.total_steps}"]
        if report.epochs:
            parts.append(f"epoch {epoch} of {report.epochs}")
        parts.append(f"loss {report.loss:.3f}")
        if report.eta_seconds is not None and report.step < report.total_steps:
            parts.append(f"about {duration_text(report.eta_seconds)} left")
        self.numbers.setText(" · ".join(parts))

    def add_log(self, line: str) -> None:
        self.log.appendPlainText(line)

    def replay(self, events: list[FinetuneEvent]) -> None:
        """Show a run from its recorded events (the screen reopened mid-run)."""
        self.run_started()
        for event in events:
            match event:
                case Phase():
                    self.show_phase(event.phase, event.message)
                case Step():
                    self.show_step(event)
                case Prepared():
                    self.show_prepared(event)
                case Download():
                    self.show_download(event.done_bytes, event.total_bytes)
        self._flush_steps()

    # -- endings ------------------------------------------------------------------------
    def run_succeeded(self, summary: str) -> None:
        self._flush_steps()
        self.phase.setText("Finished")
        last = self._last_step
        if last is not None:  # not the last phase's message ("Captioning the held-out…")
            epochs = f" over {counted(last.epochs, 'epoch')}" if last.epochs else ""
            steps = counted(last.step, "step")
            self.numbers.setText(f"{steps}{epochs} · final loss {last.loss:.3f}")
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self._say(summary, tone_style("ok"))

    def run_failed(self, message: str) -> None:
        self._flush_steps()
        self.phase.setText("Stopped")
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self._say(message, error_style())

    def run_cancelled(self) -> None:
        self._flush_steps()
        self.phase.setText("Cancelled")
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self._say("Cancelled. Nothing was saved: the model captions as before.", NOTE_STYLE)

    def _say(self, text: str, style: str) -> None:
        self.outcome.setText(text)
        self.outcome.setStyleSheet(style)
        self.outcome.setVisible(True)

    def _toggle_log(self, shown: bool) -> None:
        self.log.setVisible(shown)
        self.log_button.setText("Hide log" if shown else "Show log")
