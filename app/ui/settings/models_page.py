"""The Models settings page: the catalog, downloads, the active model, this computer,
and the inference servers captions may be made on (servers_section.py).

The table is filled in two passes: install state first (a quick disk read), then whether each
model fits, once the child-process probe of the llama.cpp build has answered (it shows
"checking…" until then). Downloads run through the shared `DownloadBridge`, so a download
started in the welcome flow shows its progress here too.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
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
from app.core.model_status import (
    MachineInfo,
    ModelRow,
    format_bytes,
    format_eta,
    format_mb,
    model_rows,
)
from app.core.settings import SettingsValues
from app.services.background import Background
from app.services.download_bridge import DownloadBridge
from app.ui.settings.common import SettingsStore, message_label, note_label, show_message
from app.ui.settings.runtime_boxes import CustomModelBox, OffloadBox
from app.ui.settings.servers_section import ServersSection
from app.ui.theme import tone
from models.catalog import Catalog, load_catalog
from models.installed import remove_model

COLUMNS = ("Model", "Download", "Memory (RAM / GPU)", "Video", "Fits this computer", "Status")
FIT_COLUMN, STATUS_COLUMN = 4, 5
ID_ROLE = Qt.ItemDataRole.UserRole


class ModelsPage(QWidget):
    rows_shown = Signal()  # the table was (re)filled; tests and the dialog wait on it

    def __init__(
        self,
        store: SettingsStore,
        background: Background,
        data_dir: DataDir,
        bridge: DownloadBridge,
        machine_probe: Callable[[], MachineInfo],
        catalog: Catalog | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._background = background
        self._models_dir = data_dir.models
        self._bridge = bridge
        self._catalog = catalog
        self._machine: MachineInfo | None = None
        self._rows: list[ModelRow] = []
        self._active = ""
        self._percent: dict[str, int] = {}
        self.confirm: Callable[[str], bool] = self._ask  # replaced in tests
        self._build()
        self._connect_bridge()
        store.load(self._settings_loaded)
        self.reload()
        background.run(machine_probe, self._machine_probed, self._probe_failed)

    # -- layout -----------------------------------------------------------------------
    def _build(self) -> None:
        self.offload_box = OffloadBox(self._store)
        self.custom_box = CustomModelBox(self._store, self._background)
        self.custom_box.applied.connect(lambda _in_use: self._show_rows())
        self.servers_section = ServersSection(self._store, self._background)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("models")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setMinimumSectionSize(28)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(FIT_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(250)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _item: self.use_selected())

        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download_selected)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.clicked.connect(self._bridge.cancel)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(self.remove_selected)
        self.use_button = QPushButton("Use this model")
        self.use_button.setDefault(False)
        self.use_button.clicked.connect(self.use_selected)
        buttons = QHBoxLayout()
        for button in (self.download_button, self.cancel_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.use_button)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(14)
        self.progress_label = QLabel()
        self.progress_bar.setVisible(False)
        self.progress_label.setVisible(False)
        self.message = message_label()

        catalog_box = QGroupBox("Catalog")
        catalog_layout = QVBoxLayout(catalog_box)
        catalog_layout.addWidget(self.table, 1)
        catalog_layout.addLayout(buttons)
        catalog_layout.addWidget(self.progress_bar)
        catalog_layout.addWidget(self.progress_label)
        catalog_layout.addWidget(self.message)
        catalog_layout.addWidget(
            note_label(
                "Sizes and memory needs are estimates. Browsing, search and editing work "
                "without any model; captioning waits until one is installed."
            )
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.offload_box)
        layout.addWidget(catalog_box, 1)
        layout.addWidget(self.custom_box)
        layout.addWidget(self.servers_section)
        self._update_buttons()

    def _connect_bridge(self) -> None:
        self._bridge.progress.connect(self._download_progress)
        self._bridge.finished.connect(self._download_finished)
        self._bridge.failed.connect(self._download_failed)
        self._bridge.cancelled.connect(self._download_cancelled)

    # -- loading ----------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read install state (and fit, once the hardware is known) off the GUI thread."""
        hardware = self._machine.hardware if self._machine else None
        catalog = self._catalog

        def load() -> tuple[Catalog, list[ModelRow]]:
            known = catalog or load_catalog()
            return known, model_rows(known, self._models_dir, hardware)

        self._background.run(load, self._rows_loaded, self._show_error)

    def _rows_loaded(self, loaded: tuple[Catalog, list[ModelRow]]) -> None:
        self._catalog, self._rows = loaded
        self._show_rows()

    def _settings_loaded(self, values: SettingsValues, _extra: object) -> None:
        self._active = values.active_model
        self.offload_box.load(values)
        self.custom_box.load(values.custom_model_path, values.custom_mmproj_path)
        self._show_rows()

    def _machine_probed(self, info: MachineInfo) -> None:
        self._machine = info
        self.offload_box.show_machine(info)
        self.reload()

    def _probe_failed(self, message: str) -> None:
        self.offload_box.show_machine(None, message)

    # -- the table ------------------------------------------------------------------------
    def _show_rows(self) -> None:
        selected = self.selected_model()
        self.table.setRowCount(len(self._rows))
        for index, row in enumerate(self._rows):
            entry = row.entry
            name = f"{entry.name}  ★ recommended" if row.recommended else entry.name
            fit = row.fit_reason if row.fits is not False else f"No: {row.fit_reason}"
            cells = (
                name,
                format_mb(entry.download_mb),
                f"{entry.ram_gb:g} GB / {entry.vram_gb:g} GB",
                "yes" if entry.video_trained else "no",
                fit,
                self._status(row),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, entry.id)
                if column in (1, 2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(index, column, item)
            self._cell(index, 0).setToolTip(
                f"{entry.id} · {entry.license}\n{entry.license_note}".strip()
            )
            if row.fits is False:
                self._cell(index, FIT_COLUMN).setForeground(tone("error"))
        if selected:
            self.select_model(selected)
        self._update_buttons()
        self.rows_shown.emit()

    def _status(self, row: ModelRow) -> str:
        model_id = row.entry.id
        if self._bridge.current() == model_id:
            percent = self._percent.get(model_id)
            return f"Downloading… {percent}%" if percent is not None else "Downloading…"
        if row.installed:
            in_use = model_id == self._active and not self.custom_box.in_use()
            return "✓ In use" if in_use else "Installed"
        return "Partly downloaded" if row.partial else "Not installed"

    def status_of(self, model_id: str) -> str:
        """The Status cell of a model (for the window's tests and tooltips)."""
        index = self._row_index(model_id)
        return self._cell(index, STATUS_COLUMN).text() if index is not None else ""

    def fit_of(self, model_id: str) -> str:
        index = self._row_index(model_id)
        return self._cell(index, FIT_COLUMN).text() if index is not None else ""

    def _cell(self, index: int, column: int) -> QTableWidgetItem:
        item = self.table.item(index, column)
        assert item is not None  # _show_rows fills every cell of the rows in self._rows
        return item

    def _row_index(self, model_id: str) -> int | None:
        return next((i for i, row in enumerate(self._rows) if row.entry.id == model_id), None)

    def _row(self, model_id: str | None) -> ModelRow | None:
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
        in_use = row is not None and row.entry.id == self._active and not self.custom_box.in_use()
        self.use_button.setEnabled(row is not None and row.installed and not in_use)

    # -- actions ----------------------------------------------------------------------------
    def download_selected(self) -> None:
        model_id = self.selected_model()
        if model_id and self._bridge.start(model_id):
            self._percent.pop(model_id, None)
            show_message(self.message, "")
            self._show_progress(model_id, 0, 0, 0.0, None)
            self._show_rows()

    def use_selected(self) -> None:
        """Caption with the selected installed model (this also stops using a custom pair)."""
        row = self._row(self.selected_model())
        if row is None or not row.installed:
            return
        model_id, name = row.entry.id, row.entry.name

        def saved() -> None:
            self._active = model_id
            self.custom_box.mark_not_in_use()
            show_message(self.message, f"New captions are made with {name}.")
            self._show_rows()

        self._store.save(
            {"active_model": model_id, "custom_model_path": "", "custom_mmproj_path": ""}, saved
        )

    def remove_selected(self) -> None:
        row = self._row(self.selected_model())
        if row is None:
            return
        entry = row.entry
        if not self.confirm(f"Delete the files of {entry.name} ({format_mb(entry.download_mb)})?"):
            return
        models_dir = self._models_dir

        def removed(_result: object) -> None:
            show_message(self.message, f"Removed {entry.name}.")
            if entry.id == self._active:
                self._active = ""
                self._store.save({"active_model": ""})
            self.reload()

        self._background.run(lambda: remove_model(entry.id, models_dir), removed, self._show_error)

    def _ask(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Remove model", question)
        return answer == QMessageBox.StandardButton.Yes

    # -- download signals ---------------------------------------------------------------
    def _mine(self, model_id: str) -> bool:
        """A caption model's download (the bridge also downloads embedding models, which the
        Search page shows); before the catalog is read, every download counts as ours."""
        if self._catalog is None or self._catalog.get(model_id) is not None:
            return True
        self._update_buttons()  # Cancel follows the bridge whatever it downloads
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
            if index is not None:
                self._cell(index, STATUS_COLUMN).setText(f"Downloading… {percent}%")
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
        if not self._bridge.busy():  # a refused second start must not hide the running one
            self.progress_bar.setVisible(False)
            self.progress_label.setVisible(False)
        show_message(self.message, message, error=error)
        self._show_rows()  # no longer "Downloading…" while the install state is re-read
        self.reload()

    def _download_finished(self, model_id: str) -> None:
        if not self._mine(model_id):
            return
        row = self._row(model_id)
        name = row.entry.name if row else model_id
        if not self._active and not self.custom_box.in_use():
            self._active = model_id  # the first model: caption with it right away
            self._store.save({"active_model": model_id})
            self._download_ended(f"Installed {name}; new captions are made with it.")
        else:
            self._download_ended(f"Installed {name}. Choose “Use this model” to caption with it.")

    def _download_failed(self, model_id: str, message: str) -> None:
        if not self._mine(model_id):
            return
        self._download_ended(message, error=True)

    def _download_cancelled(self, model_id: str) -> None:
        if not self._mine(model_id):
            return
        self._download_ended("Download cancelled. Download again to continue where it stopped.")

    def _show_error(self, message: str) -> None:
        show_message(self.message, message, error=True)
        self._update_buttons()

    def flush(self) -> None:
        self.offload_box.flush()
