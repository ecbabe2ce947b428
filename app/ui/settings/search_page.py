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
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.datadir import DataDir
from app.core.model_status import format_mb
from app.core.semantic.model_choice import OFF
from app.core.semantic.status import MeaningStatus, meaning_status
from app.core.settings import DEFAULTS, SettingsValues
from app.core.storage.db import Database
from app.services.background import Background
from app.services.download_bridge import DownloadBridge
from app.ui.settings.catalog_page import CatalogPage
from app.ui.settings.common import SettingsStore, note_label
from app.ui.theme import tone_style
from models.embedding_catalog import EmbeddingCatalog, EmbeddingEntry, load_embedding_catalog
from models.installed import has_partial_download, read_installed_embedding

COLUMNS = ("Model", "Languages", "Download", "Memory", "Status")
STATUS_COLUMN = 4
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


class SearchPage(CatalogPage[EmbeddingRow]):
    status_shown = Signal()  # the status line was read again
    columns = COLUMNS
    status_column = STATUS_COLUMN
    centered_columns = (2, 3)
    remove_title = "Remove embedding model"

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
        super().__init__(store, background, data_dir, bridge, parent)
        self._db = db
        self._catalog = catalog
        self._setting: str | None = None  # embedding_model, once read
        self._filling = False
        self.status = MeaningStatus("", "info", False)
        self.choose_file: Callable[[], str] = self._choose_file  # replaced in tests
        self._refresh = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh.timeout.connect(self.read_status)
        self._build()
        store.load(self._settings_loaded)
        self.reload()

    # -- layout -----------------------------------------------------------------------
    def _build(self) -> None:
        self.status_label = QLabel()
        self.status_label.setObjectName("meaning_status")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.table.setObjectName("embedding_models")
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        # A short catalog: the table grows to show every row rather than scroll on its own.
        self.table.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

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
        self._add_catalog(layout)

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
    def _cells(self, row: EmbeddingRow) -> tuple[str, ...]:
        entry = row.entry
        default = self._catalog is not None and entry.id == self._catalog.default_id
        return (
            f"{entry.name}  ★ recommended" if default else entry.name,
            entry.languages if entry.multilingual else f"{entry.languages} only",
            format_mb(entry.download_mb),
            f"{entry.ram_gb:g} GB",
            self._status(row),
        )

    def _dress_row(self, index: int, row: EmbeddingRow) -> None:
        entry = row.entry
        self._cell(index, 0).setToolTip(
            f"{entry.id} · {entry.dimension} dimensions · {entry.license}\n"
            f"{entry.license_note}".strip()
        )

    def _in_use(self, model_id: str) -> bool:
        return model_id == self.model_in_use()

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
    def remove_selected(self) -> None:
        row = self._row(self.selected_model())
        if row is None:
            return
        entry = row.entry
        in_use = self._in_use(entry.id)
        question = self._delete_question(entry)
        if in_use:
            question += (
                f"\n\nSearch by meaning uses {entry.name}. Without it, searches match keywords "
                "only until another model has read your captions."
            )

        def let_go() -> None:
            if in_use:  # the worker lets go of it and picks what is left (or nothing)
                self._setting = None
                self._store.save(
                    {"embedding_model": ""}, lambda: self._store.load(self._settings_loaded)
                )

        self._remove(entry, question, let_go)

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
    def _in_catalog(self, model_id: str) -> bool:
        # Caption models show on the Models page.
        return self._catalog is not None and self._catalog.get(model_id) is not None

    def _installed(self, model_id: str, name: str) -> str:
        if self._setting == "":
            # The window restarts the worker (DownloadBridge.embedding_installed), which
            # starts reading the captions with the default choice.
            return f"Installed {name}; it reads your captions in the background."
        return f"Installed {name}. Choose it under “Search with” to use it."

    def flush(self) -> None:
        """Nothing waits for a typing pause here (the weights save as they change)."""
