"""First run (issue #4, section 6): pick a folder, watch it fill, get a model offered.

Two steps. The first hands the chosen folder to the window (`folder_chosen`), which adds and
scans it and reports back through `set_scan_progress`, so items appear while the user reads
on. The second offers the default model for this computer (the llama.cpp build is probed in
a child process, off the GUI thread), with its size and the reason it was picked, and
downloads it through the shared `DownloadBridge`. "Later" is always there: browsing, search
and editing work without a model. Closing the dialog, either way, emits QDialog's `finished`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME
from app.core.datadir import DataDir
from app.core.model_status import (
    MachineInfo,
    format_bytes,
    format_eta,
    format_mb,
    probe_machine,
)
from app.core.storage.db import Database
from app.services.background import Background
from app.services.download_bridge import DownloadBridge
from app.ui.places import start_folder
from app.ui.settings.common import SettingsStore, message_label, note_label, show_message
from models.catalog import Catalog, CatalogEntry, load_catalog
from models.hardware import default_model, fits
from models.installed import read_installed

WITHOUT_MODEL = (
    "Browsing, search and editing work without a model. Captioning waits until one is "
    "installed; you can also download one later in Settings → Models."
)


@dataclass(frozen=True)
class Offer:
    entry: CatalogEntry
    reason: str
    installed: bool
    machine: str


class WelcomeDialog(QDialog):
    folder_chosen = Signal(str)  # the window adds and scans it, then calls set_scan_progress
    settings_changed = Signal(set)  # active_model, once the offered model is installed

    def __init__(
        self,
        db: Database,
        data_dir: DataDir,
        download_bridge: DownloadBridge,
        parent: QWidget | None = None,
        *,
        machine_probe: Callable[[], MachineInfo] = probe_machine,
        catalog: Catalog | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Welcome to {APP_NAME}")
        self.setMinimumWidth(600)
        self._bridge = download_bridge
        self._models_dir = data_dir.models
        self._probe = machine_probe
        self._catalog = catalog
        self._offer: Offer | None = None
        self._background = Background(self)
        self._store = SettingsStore(db, self)
        self._store.saved.connect(self.settings_changed)
        self.steps = QStackedWidget()
        self.steps.addWidget(self._folder_step())
        self.steps.addWidget(self._model_step())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.addWidget(self.steps)
        self._bridge.progress.connect(self._progress)
        self._bridge.finished.connect(self._downloaded)
        self._bridge.failed.connect(self._failed)
        self._bridge.cancelled.connect(self._cancelled)
        self._load_offer()

    # -- step 1: a folder ---------------------------------------------------------------
    def _folder_step(self) -> QWidget:
        title = QLabel(f"<h2>Welcome to {APP_NAME}</h2>")
        intro = QLabel(
            "Captionist writes captions and tags for your photos and videos with an AI model "
            "that runs on this computer, so you can find them by what they show. Nothing is "
            "uploaded."
        )
        intro.setWordWrap(True)
        self.choose_button = QPushButton("Choose a folder of photos or videos…")
        self.choose_button.clicked.connect(self._choose_folder)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        self.scan_label = QLabel()
        self.next_button = QPushButton("Next")
        self.next_button.setDefault(True)
        self.next_button.clicked.connect(self.show_model_step)
        buttons = QHBoxLayout()
        buttons.addWidget(note_label("You can add more folders later."), 1)
        buttons.addWidget(self.next_button)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addSpacing(12)
        layout.addWidget(self.choose_button)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.scan_label)
        layout.addStretch(1)
        layout.addLayout(buttons)
        return page

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Choose a folder of photos or videos", start_folder()
        )
        if path:
            self.choose_folder(path)

    def choose_folder(self, path: str) -> None:
        self.folder_label.setText(f"<b>{escape(path)}</b>")
        self.scan_label.setText("Looking for photos and videos…")
        self.choose_button.setText("Choose another folder…")
        self.folder_chosen.emit(path)

    def set_scan_progress(self, count: int) -> None:
        """Called by the window while it scans the chosen folder; a negative count means the
        scan is over (the window may not know the total)."""
        if count < 0:
            self.scan_label.setText("Scan finished: your photos and videos are in the library.")
        else:
            self.scan_label.setText(f"Found {count:,} photos and videos so far…")

    def set_scan_finished(self, count: int) -> None:
        self.scan_label.setText(f"Found {count:,} photos and videos. They are in your library.")

    # -- step 2: a model ----------------------------------------------------------------
    def _model_step(self) -> QWidget:
        title = QLabel("<h2>A captioning model</h2>")
        self.offer_label = QLabel("Checking what this computer can run…")
        self.offer_label.setWordWrap(True)
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.progress_label = QLabel()
        self.message = message_label()
        self.download_button = QPushButton("Download")
        self.download_button.setDefault(True)
        self.download_button.setEnabled(False)
        self.download_button.clicked.connect(self.download)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.clicked.connect(self._bridge.cancel)
        self.later_button = QPushButton("Later")
        self.later_button.clicked.connect(self.accept)
        self.done_button = QPushButton("Start using Captionist")
        self.done_button.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.later_button)
        buttons.addStretch(1)
        for button in (self.cancel_button, self.download_button, self.done_button):
            buttons.addWidget(button)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(title)
        layout.addWidget(self.offer_label)
        layout.addWidget(self.reason_label)
        layout.addSpacing(8)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.message)
        layout.addStretch(1)
        layout.addWidget(note_label(WITHOUT_MODEL))
        layout.addLayout(buttons)
        self._show_download_state()
        return page

    def show_model_step(self) -> None:
        self.steps.setCurrentIndex(1)

    def offered_model(self) -> str | None:
        return self._offer.entry.id if self._offer else None

    def _load_offer(self) -> None:
        probe, catalog, models_dir = self._probe, self._catalog, self._models_dir

        def offer() -> Offer:
            machine = probe()
            entries = catalog or load_catalog()
            entry = default_model(entries, machine.hardware)
            _ok, reason = fits(entry, machine.hardware)
            installed = read_installed(entry.id, models_dir) is not None
            return Offer(entry, reason, installed, machine.describe())

        self._background.run(offer, self._show_offer, self._offer_failed)

    def _show_offer(self, offer: Offer) -> None:
        self._offer = offer
        entry = offer.entry
        self.offer_label.setText(
            f"Recommended for this computer: <b>{escape(entry.name)}</b> — "
            f"{format_mb(entry.download_mb)} download."
        )
        self.reason_label.setText(
            f"Why this one: {escape(offer.reason)}.<br>This computer: {escape(offer.machine)}.<br>"
            f"Licence: {escape(entry.license)}. {escape(entry.license_note)}"
        )
        if offer.installed:
            show_message(self.message, f"{entry.name} is already installed. You are all set.")
        self._show_download_state()

    def _offer_failed(self, message: str) -> None:
        self.offer_label.setText(f"This computer could not be checked ({message}).")
        show_message(self.message, "Choose a model later in Settings → Models.", error=True)

    def download(self) -> None:
        if self._offer is not None and self._bridge.start(self._offer.entry.id):
            show_message(self.message, "")
            self.progress_label.setText("Connecting…")
            self._show_download_state()

    def _show_download_state(self) -> None:
        offer = self._offer
        mine = offer is not None and self._bridge.current() == offer.entry.id
        installed = offer is not None and offer.installed
        self.progress_bar.setVisible(mine)
        self.progress_label.setVisible(mine)
        self.cancel_button.setVisible(mine)
        self.download_button.setVisible(not installed and not mine)
        self.download_button.setEnabled(offer is not None and not self._bridge.busy())
        self.done_button.setVisible(installed)
        self.later_button.setVisible(not installed)
        self.later_button.setText("Continue in the background" if mine else "Later")

    # -- download signals ---------------------------------------------------------------
    def _is_offer(self, model_id: str) -> bool:
        return self._offer is not None and self._offer.entry.id == model_id

    def _progress(
        self, model_id: str, done: int, total: int, rate: float, eta: float | None
    ) -> None:
        if not self._is_offer(model_id):
            return
        if self.progress_bar.isHidden():
            self._show_download_state()
        self.progress_bar.setValue(int(done * 1000 / total) if total else 0)
        speed = f" · {format_bytes(rate)}/s" if rate else ""
        self.progress_label.setText(
            f"{format_bytes(done)} of {format_bytes(total)}{speed} · {format_eta(eta)}"
        )

    def _downloaded(self, model_id: str) -> None:
        if not self._is_offer(model_id) or self._offer is None:
            return
        offer = self._offer
        self._offer = Offer(offer.entry, offer.reason, True, offer.machine)

        def saved() -> None:
            show_message(
                self.message, f"{offer.entry.name} is installed. Captions start on their own."
            )
            self._show_download_state()

        self._store.save({"active_model": model_id}, saved)

    def _failed(self, model_id: str, message: str) -> None:
        if self._is_offer(model_id):
            show_message(self.message, message, error=True)
            self._show_download_state()

    def _cancelled(self, model_id: str) -> None:
        if self._is_offer(model_id):
            show_message(self.message, "Download cancelled. Download again to continue.")
            self._show_download_state()
