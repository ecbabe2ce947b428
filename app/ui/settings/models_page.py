"""The Models settings page: the catalog, downloads, the active model, this computer,
and the inference servers captions may be made on (servers_section.py).

The table is filled in two passes: install state first (a quick disk read), then whether each
model fits, once the child-process probe of the llama.cpp build has answered (it shows
"checking…" until then). Downloads run through the shared `DownloadBridge`, so a download
started in the welcome flow shows its progress here too; the table, its downloads and removal
are the catalog page's (catalog_page.py), shared with the Search page.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QGroupBox, QHeaderView, QPushButton, QVBoxLayout, QWidget

from app.core.datadir import DataDir
from app.core.model_status import MachineInfo, ModelRow, format_mb, model_rows
from app.core.settings import SettingsValues
from app.services.background import Background
from app.services.download_bridge import DownloadBridge
from app.ui.settings.catalog_page import CatalogPage
from app.ui.settings.common import SettingsStore, note_label, show_message
from app.ui.settings.runtime_boxes import CustomModelBox, OffloadBox
from app.ui.settings.servers_section import ServersSection
from app.ui.theme import tone
from models.catalog import Catalog, load_catalog

COLUMNS = ("Model", "Download", "Memory (RAM / GPU)", "Video", "Fits this computer", "Status")
FIT_COLUMN, STATUS_COLUMN = 4, 5


class ModelsPage(CatalogPage[ModelRow]):
    columns = COLUMNS
    status_column = STATUS_COLUMN
    centered_columns = (1, 2, 3)
    remove_title = "Remove model"

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
        super().__init__(store, background, data_dir, bridge, parent)
        self._catalog = catalog
        self._machine: MachineInfo | None = None
        self._active = ""
        self._build()
        store.load(self._settings_loaded)
        self.reload()
        background.run(machine_probe, self._machine_probed, self._probe_failed)

    # -- layout -----------------------------------------------------------------------
    def _build(self) -> None:
        self.offload_box = OffloadBox(self._store)
        self.custom_box = CustomModelBox(self._store, self._background)
        self.custom_box.applied.connect(lambda _in_use: self._show_rows())
        self.servers_section = ServersSection(self._store, self._background)
        self.table.setObjectName("models")
        self.table.setWordWrap(True)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(
            FIT_COLUMN, QHeaderView.ResizeMode.Stretch
        )
        self.table.setMinimumHeight(250)
        self.table.itemDoubleClicked.connect(lambda _item: self.use_selected())

        self.use_button = QPushButton("Use this model")
        self.use_button.setDefault(False)
        self.use_button.clicked.connect(self.use_selected)
        self.catalog_buttons.addWidget(self.use_button)

        catalog_box = QGroupBox("Catalog")
        catalog_layout = QVBoxLayout(catalog_box)
        self._add_catalog(catalog_layout, table_stretch=1)
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
    def _cells(self, row: ModelRow) -> tuple[str, ...]:
        entry = row.entry
        return (
            f"{entry.name}  ★ recommended" if row.recommended else entry.name,
            format_mb(entry.download_mb),
            f"{entry.ram_gb:g} GB / {entry.vram_gb:g} GB",
            "yes" if entry.video_trained else "no",
            row.fit_reason if row.fits is not False else f"No: {row.fit_reason}",
            self._status(row),
        )

    def _dress_row(self, index: int, row: ModelRow) -> None:
        entry = row.entry
        self._cell(index, 0).setToolTip(
            f"{entry.id} · {entry.license}\n{entry.license_note}".strip()
        )
        if row.fits is False:
            self._cell(index, FIT_COLUMN).setForeground(tone("error"))

    def _in_use(self, model_id: str) -> bool:
        # A custom model pair, once applied, captions instead of the catalog's active model.
        return model_id == self._active and not self.custom_box.in_use()

    def fit_of(self, model_id: str) -> str:
        index = self._row_index(model_id)
        return self._cell(index, FIT_COLUMN).text() if index is not None else ""

    def _update_buttons(self) -> None:
        super()._update_buttons()
        row = self._row(self.selected_model())
        self.use_button.setEnabled(
            row is not None and row.installed and not self._in_use(row.entry.id)
        )

    # -- actions ----------------------------------------------------------------------------
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

        def forget_active() -> None:
            if entry.id == self._active:
                self._active = ""
                self._store.save({"active_model": ""})

        self._remove(entry, self._delete_question(entry), forget_active)

    # -- download signals ---------------------------------------------------------------
    def _in_catalog(self, model_id: str) -> bool:
        # The bridge also downloads embedding models, which the Search page shows; before
        # the catalog is read, every download counts as ours.
        return self._catalog is None or self._catalog.get(model_id) is not None

    def _installed(self, model_id: str, name: str) -> str:
        if not self._active and not self.custom_box.in_use():
            self._active = model_id  # the first model: caption with it right away
            self._store.save({"active_model": model_id})
            return f"Installed {name}; new captions are made with it."
        return f"Installed {name}. Choose “Use this model” to caption with it."

    def flush(self) -> None:
        self.offload_box.flush()
