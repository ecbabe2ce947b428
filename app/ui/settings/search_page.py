"""The Search settings page: search by meaning (issue 14) and the hybrid ranking's weights.

The embedding models of the catalog (languages, size, memory, installed or not) download
through the shared `DownloadBridge`, like the caption models; the choice is the setting
`embedding_model` (app/core/semantic/model_choice.py): the default, an installed model, a GGUF
file, or off. Saving it restarts the caption worker, which then reads the captions with the
new model in the background while the old vectors keep answering; the status line says how
far it got (read on the background pool, again every few seconds while it is reading).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.datadir import DataDir
from app.core.model_status import format_bytes, format_eta, format_mb
from app.core.semantic.model_choice import OFF
from app.core.semantic.status import MeaningStatus, meaning_status
from app.core.settings import DEFAULTS, SettingsValues
from app.core.storage.db import Database
from app.services.background import Background
from app.services.download_bridge import DownloadBridge
from app.ui.settings.common import (
    SettingsStore,
    message_label,
    note_label,
    show_message,
)
from app.ui.theme import tone_style
from models.embedding_catalog import EmbeddingCatalog, EmbeddingEntry, load_embedding_catalog
from models.installed import has_partial_download, read_installed_embedding, remove_model

COLUMNS = ("Model", "Languages", "Download", "Memory", "Status")
STATUS_COLUMN = 4
ID_ROLE = Qt.ItemDataRole.UserRole
CHOOSE_FILE = "\x00file"  # the combo's "A GGUF file…" entry, never a setting value
REFRESH_MS = 3000  # the status line again, while a model reads captions
WEIGHTS = (
    ("fusion_keyword_weight", "Keyword"),
    ("fusion_semantic_weight", "Meaning"),
    ("fusion_phrase_weight", "Exact phrase"),
)


@dataclass(frozen=True)
class EmbeddingRow:
    entry: EmbeddingEntry
    installed: bool
    partial: bool


def embedding_rows(catalog: EmbeddingCatalog, models_dir: Path) -> list[EmbeddingRow]:
    return [
        EmbeddingRow(
            entry,
            read_installed_embedding(entry.id, models_dir) is not None,
            has_partial_download(entry.id, models_dir),
        )
        for entry in catalog
    ]


class SearchPage(QWidget):
    rows_shown = Signal()  # the table was (re)filled
    status_shown = Signal()  # the status line was read again

    def __init__(
        self,
        store: SettingsStore,
        background: Background,
        db: Database,
        data_dir: DataDir,
        bridge: DownloadBridge,
        catalog: EmbeddingCatalog | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._background = background
        self._db = db
        self._models_dir = data_dir.models
        self._bridge = bridge
        self._catalog = catalog
        self._rows: list[EmbeddingRow] = []
        self._setting: str | None = None  # embedding_model, once read
        self._percent: dict[str, int] = {}
        self._filling = False
        self.status = MeaningStatus("", "info", False)
        self.confirm: Callable[[str], bool] = self._ask  # replaced in tests
        self.choose_file: Callable[[], str] = self._choose_file  # replaced in tests
        self._refresh = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh.timeout.connect(self.read_status)
        self._build()
        self._bridge.progress.connect(self._download_progress)
        self._bridge.finished.connect(self._download_finished)
        self._bridge.failed.connect(self._download_failed)
        self._bridge.cancelled.connect(self._download_cancelled)
        store.load(self._settings_loaded)
        self.reload()

    # -- layout -----------------------------------------------------------------------
    def _build(self) -> None:
        self.status_label = QLabel()
        self.status_label.setObjectName("meaning_status")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("embedding_models")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setMinimumSectionSize(28)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download_selected)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.clicked.connect(self._bridge.cancel)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        for button in (self.download_button, self.cancel_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(14)
        self.progress_label = QLabel()
        self.progress_bar.setVisible(False)
        self.progress_label.setVisible(False)
        self.message = message_label()

        self.choice = QComboBox()
        self.choice.setObjectName("embedding_choice")
        self.choice.setEnabled(False)  # until the setting is read
        self.choice.activated.connect(self._chosen)
        self.choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        choice_row = QHBoxLayout()
        choice_row.addWidget(QLabel("Search with:"))
        choice_row.addWidget(self.choice)
        choice_row.addStretch(1)

        meaning = QGroupBox("Search by meaning")
        layout = QVBoxLayout(meaning)
        layout.addWidget(
            note_label(
                "An embedding model reads your captions so that a search finds photos by what "
                "they mean, in any language: “dog on the beach” finds “a puppy running on the "
                "sand”. It runs on this computer. Without one, search matches words only."
            )
        )
        layout.addWidget(self.status_label)
        layout.addLayout(choice_row)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.message)

        page = QVBoxLayout(self)
        page.addWidget(meaning)
        page.addWidget(self._advanced_box())
        page.addStretch(1)
        self._update_buttons()

    def _advanced_box(self) -> QGroupBox:
        box = QGroupBox("Advanced: how results are ranked")
        form = QFormLayout()
        self.weight_spins: dict[str, QDoubleSpinBox] = {}
        for key, label in WEIGHTS:
            spin = QDoubleSpinBox()
            spin.setObjectName(key)
            spin.setRange(0.0, 10.0)
            spin.setSingleStep(0.1)
            spin.setDecimals(2)
            spin.setKeyboardTracking(False)  # saved when typing ends, not per keystroke
            spin.setEnabled(False)  # until the settings are read
            spin.valueChanged.connect(lambda value, key=key: self._weight_changed(key, value))
            self.weight_spins[key] = spin
            form.addRow(f"{label}:", spin)
        self.reset_weights_button = QPushButton("Reset")
        self.reset_weights_button.clicked.connect(self.reset_weights)
        row = QHBoxLayout()
        row.addLayout(form)
        row.addStretch(1)
        row.addWidget(self.reset_weights_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout = QVBoxLayout(box)
        layout.addWidget(
            note_label(
                "A search ranks photos by keyword, by meaning and by the exact phrase, then "
                "merges the three lists; a higher weight lets that list count more (0 leaves "
                "it out)."
            )
        )
        layout.addLayout(row)
        return box

    # -- loading ----------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read which embedding models are installed, off the GUI thread."""
        catalog, models_dir = self._catalog, self._models_dir

        def load() -> tuple[EmbeddingCatalog, list[EmbeddingRow]]:
            known = catalog or load_embedding_catalog()
            return known, embedding_rows(known, models_dir)

        self._background.run(load, self._rows_loaded, self._show_error)

    def _rows_loaded(self, loaded: tuple[EmbeddingCatalog, list[EmbeddingRow]]) -> None:
        self._catalog, self._rows = loaded
        self._show_rows()
        self._fill_choice()
        self.read_status()

    def _settings_loaded(self, values: SettingsValues, _extra: object) -> None:
        self._setting = values.embedding_model
        for key, spin in self.weight_spins.items():
            spin.blockSignals(True)
            spin.setValue(float(getattr(values, key)))
            spin.blockSignals(False)
            spin.setEnabled(True)
        self._fill_choice()
        self._show_rows()
        self.read_status()

    def read_status(self) -> None:
        """Read what search by meaning is doing (on the pool) into the status line."""
        setting = self._setting
        if setting is None:
            return
        db, models_dir = self._db, self._models_dir
        self._background.run(
            lambda: meaning_status(db, setting, models_dir), self._status_read, self._show_error
        )

    def _status_read(self, status: MeaningStatus) -> None:
        self.status = status
        self.status_label.setText(status.text)
        self.status_label.setStyleSheet(tone_style(status.tone))
        self._filling = status.filling
        if status.filling and self.isVisible():
            self._refresh.start()
        self.status_shown.emit()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._filling:
            self.read_status()

    def hideEvent(self, event: QHideEvent) -> None:
        self._refresh.stop()  # nothing reads the library for a page nobody sees
        super().hideEvent(event)

    # -- the table ------------------------------------------------------------------------
    def _show_rows(self) -> None:
        selected = self.selected_model()
        self.table.setRowCount(len(self._rows))
        for index, row in enumerate(self._rows):
            entry = row.entry
            default = self._catalog is not None and entry.id == self._catalog.default_id
            cells = (
                f"{entry.name}  ★ recommended" if default else entry.name,
                entry.languages if entry.multilingual else f"{entry.languages} only",
                format_mb(entry.download_mb),
                f"{entry.ram_gb:g} GB",
                self._status_text(row),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, entry.id)
                if column in (2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(index, column, item)
            first = self.table.item(index, 0)
            assert first is not None
            first.setToolTip(
                f"{entry.id} · {entry.dimension} dimensions · {entry.license}\n"
                f"{entry.license_note}".strip()
            )
        if selected:
            self.select_model(selected)
        self._update_buttons()
        self.rows_shown.emit()

    def _status_text(self, row: EmbeddingRow) -> str:
        model_id = row.entry.id
        if self._bridge.current() == model_id:
            percent = self._percent.get(model_id)
            return f"Downloading… {percent}%" if percent is not None else "Downloading…"
        if row.installed:
            return "✓ In use" if model_id == self.model_in_use() else "Installed"
        return "Partly downloaded" if row.partial else "Not installed"

    def model_in_use(self) -> str | None:
        """The catalog model the setting picks among those installed (None: off, a file,
        or nothing installed)."""
        setting = self._setting
        installed = [row.entry.id for row in self._rows if row.installed]
        if setting is None or setting == OFF:
            return None
        if setting:
            return setting if setting in installed else None
        default = self._catalog.default_id if self._catalog else None
        if default in installed:
            return default
        return installed[0] if installed else None

    def status_of(self, model_id: str) -> str:
        index = self._row_index(model_id)
        item = self.table.item(index, STATUS_COLUMN) if index is not None else None
        return item.text() if item is not None else ""

    def _row_index(self, model_id: str) -> int | None:
        return next((i for i, row in enumerate(self._rows) if row.entry.id == model_id), None)

    def _row(self, model_id: str | None) -> EmbeddingRow | None:
        index = self._row_index(model_id) if model_id else None
        return self._rows[index] if index is not None else None

    def selected_model(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(ID_ROLE) if items else None

    def select_model(self, model_id: str) -> None:
        index = self._row_index(model_id)
        if index is not None:
            self.table.selectRow(index)

    def _update_buttons(self) -> None:
        row = self._row(self.selected_model())
        busy = self._bridge.busy()
        downloading = row is not None and self._bridge.current() == row.entry.id
        self.download_button.setText("Resume download" if row and row.partial else "Download")
        self.download_button.setEnabled(row is not None and not row.installed and not busy)
        self.cancel_button.setEnabled(busy)
        self.remove_button.setEnabled(
            row is not None and (row.installed or row.partial) and not downloading
        )

    # -- the choice ---------------------------------------------------------------------
    def _fill_choice(self) -> None:
        setting = self._setting
        if setting is None or self._catalog is None:
            return
        catalog = self._catalog
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItem(f"Default (recommended): {catalog.default.name}", "")
        for row in self._rows:
            if row.installed:
                self.choice.addItem(row.entry.name, row.entry.id)
        if setting not in ("", OFF) and self.choice.findData(setting) < 0:
            entry = catalog.get(setting)
            if entry is not None:
                self.choice.addItem(f"{entry.name} (not installed)", setting)
            else:
                self.choice.addItem(f"File: {Path(setting).name}", setting)
                self.choice.setItemData(
                    self.choice.count() - 1, setting, Qt.ItemDataRole.ToolTipRole
                )
        self.choice.addItem("A GGUF file…", CHOOSE_FILE)
        self.choice.addItem("Off: keyword search only", OFF)
        self.choice.setCurrentIndex(max(0, self.choice.findData(setting)))
        self.choice.blockSignals(False)
        self.choice.setEnabled(True)

    def choose(self, value: str) -> None:
        """Save `value` as the setting `embedding_model` (the window restarts the worker)."""
        if value == self._setting:
            return
        self._setting = value

        def saved() -> None:
            self._fill_choice()
            self._show_rows()
            self.read_status()

        self._store.save({"embedding_model": value}, saved)

    def _chosen(self, index: int) -> None:
        value = self.choice.itemData(index)
        if value == CHOOSE_FILE:
            path = self.choose_file()
            if path:
                self.choose(path)
            else:  # cancelled: back to what is chosen
                self._fill_choice()
            return
        self.choose(str(value))

    def _choose_file(self) -> str:
        path, _filter = QFileDialog.getOpenFileName(
            self, "Choose a text-embedding model", "", "GGUF models (*.gguf)"
        )
        return path

    # -- actions ----------------------------------------------------------------------------
    def download_selected(self) -> None:
        model_id = self.selected_model()
        if model_id and self._bridge.start(model_id):
            self._percent.pop(model_id, None)
            show_message(self.message, "")
            self._show_progress(model_id, 0, 0, 0.0, None)
            self._show_rows()

    def remove_selected(self) -> None:
        row = self._row(self.selected_model())
        if row is None:
            return
        entry = row.entry
        in_use = entry.id == self.model_in_use()
        question = f"Delete the files of {entry.name} ({format_mb(entry.download_mb)})?"
        if in_use:
            question += (
                f"\n\nSearch by meaning uses {entry.name}. Without it, searches match keywords "
                "only until another model has read your captions."
            )
        if not self.confirm(question):
            return
        models_dir = self._models_dir

        def removed(_result: object) -> None:
            show_message(self.message, f"Removed {entry.name}.")
            if in_use:  # the worker lets go of it and picks what is left (or nothing)
                self._setting = None
                self._store.save(
                    {"embedding_model": ""}, lambda: self._store.load(self._settings_loaded)
                )
            self.reload()

        self._background.run(lambda: remove_model(entry.id, models_dir), removed, self._show_error)

    def _ask(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Remove embedding model", question)
        return answer == QMessageBox.StandardButton.Yes

    # -- weights --------------------------------------------------------------------------
    def _weight_changed(self, key: str, value: float) -> None:
        self._store.save({key: round(value, 2)})

    def reset_weights(self) -> None:
        values = {key: float(getattr(DEFAULTS, key)) for key, _label in WEIGHTS}
        for key, spin in self.weight_spins.items():
            spin.blockSignals(True)
            spin.setValue(values[key])
            spin.blockSignals(False)
        self._store.save(values)

    # -- download signals ---------------------------------------------------------------
    def _mine(self, model_id: str) -> bool:
        """An embedding model's download (caption models show on the Models page)."""
        if self._catalog is not None and self._catalog.get(model_id) is not None:
            return True
        self._update_buttons()
        return False

    def _download_progress(
        self, model_id: str, done: int, total: int, rate: float, eta: float | None
    ) -> None:
        if not self._mine(model_id):
            return
        self._show_progress(model_id, done, total, rate, eta)
        percent = int(done * 100 / total) if total else 0
        if self._percent.get(model_id) != percent:
            self._percent[model_id] = percent
            index = self._row_index(model_id)
            item = self.table.item(index, STATUS_COLUMN) if index is not None else None
            if item is not None:
                item.setText(f"Downloading… {percent}%")
        self._update_buttons()

    def _show_progress(
        self, model_id: str, done: int, total: int, rate: float, eta: float | None
    ) -> None:
        row = self._row(model_id)
        name = row.entry.name if row else model_id
        self.progress_bar.setVisible(True)
        self.progress_label.setVisible(True)
        self.progress_bar.setValue(int(done * 1000 / total) if total else 0)
        if not total:
            self.progress_label.setText(f"{name}: connecting…")
            return
        speed = f" · {format_bytes(rate)}/s" if rate else ""
        self.progress_label.setText(
            f"{name}: {format_bytes(done)} of {format_bytes(total)}{speed} · {format_eta(eta)}"
        )

    def _download_ended(self, message: str, *, error: bool = False) -> None:
        if not self._bridge.busy():
            self.progress_bar.setVisible(False)
            self.progress_label.setVisible(False)
        show_message(self.message, message, error=error)
        self._show_rows()
        self.reload()

    def _download_finished(self, model_id: str) -> None:
        if not self._mine(model_id):
            return
        row = self._row(model_id)
        name = row.entry.name if row else model_id
        if self._setting == "":
            # The window restarts the worker (DownloadBridge.embedding_installed), which
            # starts reading the captions with the default choice.
            self._download_ended(f"Installed {name}; it reads your captions in the background.")
        else:
            self._download_ended(f"Installed {name}. Choose it under “Search with” to use it.")

    def _download_failed(self, model_id: str, message: str) -> None:
        if self._mine(model_id):
            self._download_ended(message, error=True)

    def _download_cancelled(self, model_id: str) -> None:
        if self._mine(model_id):
            self._download_ended("Download cancelled. Download again to continue where it stopped.")

    def _show_error(self, message: str) -> None:
        show_message(self.message, message, error=True)
        self._update_buttons()

    def flush(self) -> None:
        """Nothing waits for a typing pause here (the weights save as they change)."""
