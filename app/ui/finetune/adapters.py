"""The adapters fine-tuning made for the current model: version, date, corrections used,
scores, which one is active; Activate, Deactivate and Roll back.

Every registry call (they read the database and check the adapter file against the model)
runs on the background pool; the list is re-read after each, and a refusal (a file that does
not fit the model, a worse score) is shown as the registry words it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.finetune.adapters import AdapterRecord, AdapterRefused, AdapterRegistry
from app.core.storage.db import Database
from app.core.text import counted
from app.services.background import Background
from app.ui.details.text import date_text
from app.ui.finetune.data import load_adapters
from app.ui.finetune.words import METRIC_NAMES, metric_sentence, verdict
from app.ui.settings.common import NOTE_STYLE, error_style

COLUMNS = ("Version", "Created", "Corrections", "CIDEr before → after", "Method", "In use")
ID_ROLE = Qt.ItemDataRole.UserRole


def scores_text(record: AdapterRecord) -> str:
    before = (record.metrics_before or {}).get("cider")
    after = (record.metrics_after or {}).get("cider")
    if before is None or after is None:
        return "not scored"
    return f"{before:.3f} → {after:.3f}"


def detail_text(record: AdapterRecord) -> str:
    """The selected adapter in a few lines: scores (each in plain words, and a verdict),
    what it learned from, how."""
    before, after = record.metrics_before or {}, record.metrics_after or {}
    scored = [key for key in METRIC_NAMES if key in before and key in after]
    lora = record.settings.get("lora") or {}
    train = record.settings.get("train") or {}
    how = [
        f"rank {lora['rank']}" if "rank" in lora else "",
        f"{counted(train['epochs'], 'epoch')}" if "epochs" in train else "",
        f"{record.train_seconds:.0f} s" if record.train_seconds else "",
    ]
    used = counted(
        record.corrections_used, "corrected photo or video", "corrected photos or videos"
    )
    lines = [f"{record.id}: trained on {used}, scored on {record.heldout_count}."]
    if scored:
        lines.append(verdict(before, after))
        lines.extend(metric_sentence(key, before[key], after[key]) + "." for key in scored)
    else:
        lines.append(
            "Not scored (nothing was held out): hold some corrections out (Options) to "
            "score the next fine-tune."
        )
    lines.append(", ".join(part for part in how if part))
    if record.worse_reason:
        lines.append(f"Caution: {record.worse_reason}.")
    return "\n".join(line for line in lines if line)


class AdaptersPanel(QWidget):
    changed = Signal()  # an adapter was activated, deactivated or rolled back
    activation_done = Signal(str, bool, str)  # adapter id, activated?, the message shown
    selected = Signal(object)  # AdapterRecord | None

    def __init__(self, db: Database, background: Background, parent: QWidget | None = None):
        super().__init__(parent)
        self._db = db
        self._background = background
        self._model_id: str | None = None
        self._records: list[AdapterRecord] = []
        self._busy = False
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("adapters_table")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setShowGrid(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.activate_button = QPushButton("Activate")
        self.deactivate_button = QPushButton("Deactivate")
        self.deactivate_button.setToolTip("Caption with the plain model again")
        self.rollback_button = QPushButton("Roll back")
        self.rollback_button.setToolTip("Go back to the adapter that was active before")
        self.activate_button.clicked.connect(self._activate_clicked)
        self.deactivate_button.clicked.connect(self.deactivate)
        self.rollback_button.clicked.connect(self.rollback)
        self.detail = QLabel()
        self.detail.setObjectName("adapter_detail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = QLabel()
        self.message.setObjectName("adapters_message")
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        buttons = QHBoxLayout()
        for button in (self.activate_button, self.deactivate_button, self.rollback_button):
            buttons.addWidget(button)
        buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.detail)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        self._update_buttons()

    # -- reading ------------------------------------------------------------------------
    def set_model(self, model_id: str | None) -> None:
        self._model_id = model_id
        self.reload()

    def records(self) -> list[AdapterRecord]:
        return list(self._records)

    def reload(self) -> None:
        db, model_id = self._db, self._model_id
        self._background.run(lambda: load_adapters(db, model_id), self._show, self._failed)

    def _show(self, records: list[AdapterRecord]) -> None:
        chosen = self._chosen()
        self._records = records
        self.table.setRowCount(len(records))
        for row, record in enumerate(records):
            cells = (
                f"v{record.version}",
                date_text(record.created_at),
                f"{record.corrections_used} trained, {record.heldout_count} held out",
                scores_text(record),
                record.method.upper() if record.method == "qlora" else "LoRA",
                "Active" if record.active else "",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, record.id)
                item.setToolTip(record.id)
                if record.active:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, column, item)
            if chosen == record.id:
                self.table.selectRow(row)
        if not records and self._model_id is None:
            self.detail.setText(
                "No adapters: there is no captioning model to adapt yet. Set one up "
                "(Settings > Models), correct a few captions, then start a fine-tune."
            )
        elif not records:
            self.detail.setText("No adapters yet for this model: start a fine-tune to make one.")
        elif self._chosen() is None:
            self.detail.setText("Select an adapter to see its scores.")
        self._update_buttons()

    def _chosen(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()  # a QTableWidget always has one
        item = self.table.item(rows[0].row(), 0) if rows else None
        if item is None:
            return None
        value = item.data(ID_ROLE)
        return str(value) if value else None

    def _selection_changed(self) -> None:
        chosen = self._chosen()
        record = next((r for r in self._records if r.id == chosen), None)
        self.detail.setText(detail_text(record) if record else "")
        self.selected.emit(record)
        self._update_buttons()

    def _update_buttons(self) -> None:
        chosen = next((r for r in self._records if r.id == self._chosen()), None)
        any_active = any(r.active for r in self._records)
        self.activate_button.setEnabled(not self._busy and chosen is not None and not chosen.active)
        self.deactivate_button.setEnabled(not self._busy and any_active)
        self.rollback_button.setEnabled(not self._busy and any_active)

    # -- actions ------------------------------------------------------------------------
    def activate(self, adapter_id: str, *, force: bool = False) -> None:
        registry = AdapterRegistry(self._db)
        self._act(
            lambda: registry.activate(adapter_id, force=force),
            f"{adapter_id} is active.",
            lambda ok, text: self.activation_done.emit(adapter_id, ok, text),
        )

    def deactivate(self) -> None:
        if self._model_id is None:
            return
        registry, model_id = AdapterRegistry(self._db), self._model_id
        self._act(lambda: registry.deactivate(model_id), "The plain model captions again.")

    def rollback(self) -> None:
        if self._model_id is None:
            return
        registry, model_id = AdapterRegistry(self._db), self._model_id

        def back() -> str:
            record = registry.rollback(model_id)
            return (
                f"Rolled back: {record.id} is active again."
                if record
                else "Rolled back: no adapter is active now."
            )

        self._act(back, None)

    def _activate_clicked(self) -> None:
        chosen = next((r for r in self._records if r.id == self._chosen()), None)
        if chosen is None:
            return
        force = False
        if chosen.worse_reason:
            answer = QMessageBox.question(
                self,
                "Activate an adapter that scored worse?",
                f"{chosen.id}: {chosen.worse_reason}.\n\nActivate it anyway?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
            force = True
        self.activate(chosen.id, force=force)

    def _act(
        self,
        action: Callable[[], Any],
        done_text: str | None,
        then: Callable[[bool, str], None] | None = None,
    ) -> None:
        self._busy = True
        self._update_buttons()

        def run() -> tuple[bool, str]:
            try:
                result = action()
            except AdapterRefused as exc:  # a value the user reads, not a failure of ours
                return False, str(exc)
            return True, done_text or str(result)

        def acted(outcome: tuple[bool, str]) -> None:
            ok, text = outcome
            self._busy = False
            self._say(text, error=not ok)
            self.reload()
            if ok:
                self.changed.emit()
            if then is not None:
                then(ok, text)

        self._background.run(run, acted, self._failed)

    def _failed(self, message: str) -> None:
        self._busy = False
        self._say(f"The adapters could not be read or changed: {message}", error=True)
        self._update_buttons()

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(error_style() if error else NOTE_STYLE)
        self.message.setVisible(bool(text))
