"""Settings: Models, Search, Prompts, Library and Appearance pages in one dialog (issue #4,
section 5; Search: issue 14).

Changes are saved as they are made (there is no Apply button to forget): each page writes
through one `SettingsStore`, whose writes run in order off the GUI thread, and the dialog
repeats every completed write as `settings_changed(keys)` so the window can nudge the caption
worker. Folder changes come out as `folder_added` / `folder_removed` for the window to scan
and watch.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.datadir import DataDir
from app.core.model_status import MachineInfo, probe_machine
from app.core.storage.db import Database
from app.services.background import Background
from app.services.download_bridge import DownloadBridge
from app.ui.settings.appearance_page import AppearancePage
from app.ui.settings.common import SettingsStore, message_label, show_message
from app.ui.settings.library_page import LibraryPage
from app.ui.settings.models_page import ModelsPage
from app.ui.settings.prompts_page import PromptsPage
from app.ui.settings.search_page import SearchPage
from models.catalog import Catalog
from models.embedding_catalog import EmbeddingCatalog

PAGES = ("Models", "Search", "Prompts", "Library", "Appearance")


class SettingsDialog(QDialog):
    settings_changed = Signal(set)  # names of the settings a completed write changed
    folder_added = Signal(str)
    folder_removed = Signal(int)

    def __init__(
        self,
        db: Database,
        data_dir: DataDir,
        download_bridge: DownloadBridge,
        parent: QWidget | None = None,
        *,
        machine_probe: Callable[[], MachineInfo] = probe_machine,
        catalog: Catalog | None = None,
        embedding_catalog: EmbeddingCatalog | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumSize(860, 600)
        self.resize(1000, 700)
        self._background = Background(self)
        self.store = SettingsStore(db, self)
        self.store.saved.connect(self.settings_changed)
        self.models_page = ModelsPage(
            self.store, self._background, data_dir, download_bridge, machine_probe, catalog
        )
        self.search_page = SearchPage(
            self.store, self._background, db, data_dir, download_bridge, embedding_catalog
        )
        self.prompts_page = PromptsPage(self.store)
        self.library_page = LibraryPage(self.store, self._background, db, data_dir)
        self.library_page.folder_added.connect(self.folder_added)
        self.library_page.folder_removed.connect(self.folder_removed)
        self.appearance_page = AppearancePage(data_dir)
        self.store.failed.connect(self._store_failed)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for page, title in zip(self._pages(), PAGES, strict=True):
            # In a scroll area: on a short screen the page scrolls instead of its
            # widgets being squeezed on top of each other.
            area = QScrollArea()
            area.setWidgetResizable(True)
            area.setFrameShape(QFrame.Shape.NoFrame)
            area.setWidget(page)
            self.tabs.addTab(area, title)
        self.message = message_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def show_page(self, name: str) -> None:
        """Open on a page of PAGES (e.g. "Models": "captioning waits: no model")."""
        self.tabs.setCurrentIndex(PAGES.index(name))

    def done(self, result: int) -> None:
        # Edits waiting for their typing pause are saved, not lost, when the dialog closes.
        for page in self._pages():
            page.flush()
        super().done(result)

    def _pages(
        self,
    ) -> tuple[ModelsPage | SearchPage | PromptsPage | LibraryPage | AppearancePage, ...]:
        return (
            self.models_page,
            self.search_page,
            self.prompts_page,
            self.library_page,
            self.appearance_page,
        )

    def _store_failed(self, message: str) -> None:
        show_message(self.message, message, error=True)
