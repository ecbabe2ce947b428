"""What a finished fine-tune did: BLEU-4, ROUGE-L and CIDEr before and after on the held-out
corrections (the numbers, a line in plain words for each and a one-line verdict), the
held-out captions side by side (yours / before / after), and whether the new adapter was
switched on. One that scored worse is not, and "Activate anyway" is offered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.finetune.words import direction, metric_sentence, verdict
from app.ui.settings.common import NOTE_STYLE, error_style
from app.ui.theme import Tone, tone, tone_style

METRICS = (("cider", "CIDEr"), ("rouge_l", "ROUGE-L"), ("bleu4", "BLEU-4"))
SAMPLE_COLUMNS = ("Photo", "Your caption", "Before", "After")
SAMPLE_LINES = 4  # tallest a held-out row gets; the tooltip has the whole caption


def change_text(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "—"
    delta = after - before
    return "no change" if abs(delta) < 5e-4 else f"{delta:+.3f}"


def sample_rows(
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
) -> list[tuple[str, str, str, str]]:
    """(photo, reference, before, after) per held-out example, joined by example id."""
    after_by_id = {str(s.get("id")): s for s in after}
    before_by_id = {str(s.get("id")): s for s in before}
    ids = list(dict.fromkeys([*before_by_id, *after_by_id]))
    rows = []
    for example in ids:
        first = before_by_id.get(example) or after_by_id.get(example) or {}
        rows.append(
            (
                names.get(example, example),
                str(first.get("reference", "")),
                str(before_by_id.get(example, {}).get("candidate", "—")),
                str(after_by_id.get(example, {}).get("candidate", "—")),
            )
        )
    return rows


class ResultsPanel(QWidget):
    activate_anyway_requested = Signal(str)  # adapter id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._adapter_id: str | None = None
        self.status = QLabel()
        self.status.setObjectName("activation_label")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.activate_button = QPushButton("Activate anyway")
        self.activate_button.setObjectName("activate_anyway")
        self.activate_button.setToolTip("Caption with this adapter even though it scored worse")
        self.activate_button.clicked.connect(self._activate_clicked)
        self.activate_button.setVisible(False)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.activate_button, 0, Qt.AlignmentFlag.AlignTop)

        self.metrics = QTableWidget(len(METRICS), 3)
        self.metrics.setObjectName("metrics_table")
        self.metrics.setHorizontalHeaderLabels(["Before", "After", "Change"])
        self.metrics.setVerticalHeaderLabels([name for _key, name in METRICS])
        self.metrics.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.metrics.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.metrics.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.metrics.setFixedHeight(
            self.metrics.horizontalHeader().sizeHint().height()
            + len(METRICS) * self.metrics.verticalHeader().defaultSectionSize()
            + 4
        )
        self.verdict = QLabel()
        self.verdict.setObjectName("verdict_label")
        self.verdict.setWordWrap(True)
        self.metric_words = QLabel()
        self.metric_words.setObjectName("metric_words")
        self.metric_words.setWordWrap(True)
        self.metric_words.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.metrics_note = QLabel(
            "Scores on the held-out corrections (higher is better). CIDEr weighs the words "
            "that matter most; it decides whether the adapter is switched on."
        )
        self.metrics_note.setWordWrap(True)
        self.metrics_note.setStyleSheet(NOTE_STYLE)

        self.samples = QTableWidget(0, len(SAMPLE_COLUMNS))
        self.samples.setObjectName("samples_table")
        self.samples.setHorizontalHeaderLabels(list(SAMPLE_COLUMNS))
        self.samples.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.samples.setWordWrap(True)
        self.samples.setAlternatingRowColors(True)
        self.samples.verticalHeader().setVisible(False)
        header = self.samples.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.metrics)
        layout.addWidget(self.verdict)
        layout.addWidget(self.metric_words)
        layout.addWidget(self.metrics_note)
        layout.addWidget(QLabel("<b>Held-out captions</b>"))
        layout.addWidget(self.samples, 1)
        self.clear()

    def adapter_id(self) -> str | None:
        """The adapter whose results are shown (None before a run finishes)."""
        return self._adapter_id

    def clear(self) -> None:
        self._adapter_id = None
        self.status.setText(
            "Results appear here when a fine-tune finishes: press Start fine-tuning to run one."
        )
        self.status.setStyleSheet(NOTE_STYLE)
        self.activate_button.setVisible(False)
        self.show_metrics(None, None)
        self.samples.setRowCount(0)

    def show_metrics(
        self, before: Mapping[str, float] | None, after: Mapping[str, float] | None
    ) -> None:
        for row, (key, _name) in enumerate(METRICS):
            old = before.get(key) if before else None
            new = after.get(key) if after else None
            cells = (
                f"{old:.3f}" if old is not None else "—",
                f"{new:.3f}" if new is not None else "—",
                change_text(old, new),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if column == 2 and old is not None and new is not None and abs(new - old) >= 5e-4:
                    item.setForeground(tone("ok") if new > old else tone("error"))
                self.metrics.setItem(row, column, item)
        scored = any(
            (before or {}).get(key) is not None or (after or {}).get(key) is not None
            for key, _name in METRICS
        )
        lines = [
            metric_sentence(key, (before or {}).get(key), (after or {}).get(key))
            for key, _name in METRICS
        ]
        self.metric_words.setText("\n".join(lines) if scored else "")
        self.metric_words.setVisible(scored)
        said = verdict(before, after)
        self.verdict.setText(said)
        self.verdict.setVisible(bool(said))
        moves = [direction((before or {}).get(k), (after or {}).get(k)) for k, _n in METRICS]
        known = [m for m in moves if m is not None]
        feel: Tone = "ok" if all(m >= 0 for m in known) else "warn"
        if not any(m > 0 for m in known):
            feel = "error"
        self.verdict.setStyleSheet(tone_style(feel, bold=True) if any(known) else NOTE_STYLE)

    def show_samples(
        self,
        before: Sequence[Mapping[str, Any]],
        after: Sequence[Mapping[str, Any]],
        names: Mapping[str, str],
    ) -> None:
        rows = sample_rows(before, after, names)
        self.samples.setRowCount(len(rows))
        for number, row in enumerate(rows):
            for column, text in enumerate(row):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.samples.setItem(number, column, item)
        self.samples.resizeRowsToContents()
        cap = self.samples.fontMetrics().lineSpacing() * SAMPLE_LINES + 8
        for line in range(self.samples.rowCount()):  # a runaway caption stays a few lines
            self.samples.setRowHeight(line, min(self.samples.rowHeight(line), cap))

    def show_no_evaluation(self) -> None:
        self.metrics_note.setText(
            "No corrections were held out, so there is nothing to score before and after. "
            "Hold some out (Options) to measure the next fine-tune."
        )

    def show_activation(self, activated: bool, adapter_id: str, reason: str = "") -> None:
        self._adapter_id = adapter_id
        if activated:
            self.status.setText(
                f"Adapter {adapter_id} is active: new captions by this model use it."
            )
            self.status.setStyleSheet(tone_style("ok", bold=True))
            self.activate_button.setVisible(False)
            return
        # The registry says "<id> was not activated: <why>"; the id is in the sentence below.
        why = reason.split(" was not activated: ", 1)[-1].strip() or "it scored worse"
        self.status.setText(
            f"Adapter {adapter_id} was saved but not activated: {why}. Captions stay as they were."
        )
        self.status.setStyleSheet(tone_style("warn", bold=True))
        self.activate_button.setVisible(True)
        self.activate_button.setEnabled(True)

    def activation_failed(self, message: str) -> None:
        self.status.setText(message)
        self.status.setStyleSheet(error_style())
        self.activate_button.setEnabled(True)

    def _activate_clicked(self) -> None:
        if self._adapter_id:
            self.activate_button.setEnabled(False)
            self.activate_anyway_requested.emit(self._adapter_id)
