"""The Library settings page: watched folders, automatic captions, keyframes, the data folder.

Adding and removing folders goes through `Library` on the background pool; the page then
tells the window (`folder_added` / `folder_removed`) so it can scan and re-watch, which stays
the window's job. Removing a folder keeps what the user wrote (see Library.remove_root).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.datadir import DataDir
from app.core.library.library import Library, LibraryError
from app.core.settings import MetadataWrite, SettingsValues
from app.core.storage.db import Database
from app.services.background import Background
from app.services.changes import Changes
from app.ui.places import start_folder
from app.ui.settings.common import SettingsStore, message_label, note_label, show_message

METADATA_CHOICES = (
    (MetadataWrite.SIDECAR, "Beside each file (NAME.EXT.xmp sidecar)"),
    (MetadataWrite.EMBED, "Inside the file (JPEG, PNG, WebP, TIFF; a sidecar for others)"),
    (MetadataWrite.OFF, "Only in Captionist's library"),
)
MAX_KEYFRAMES = 32
SAVE_DELAY_MS = 400
ROOT_ROLE = Qt.ItemDataRole.UserRole


class LibraryPage(QWidget):
    folder_added = Signal(str)  # path: the window scans it and watches it
    folder_removed = Signal(int)  # root id: the window stops watching it

    def __init__(
        self,
        store: SettingsStore,
        background: Background,
        db: Database,
        data_dir: DataDir,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._background = background
        self._db = db
        self._data_dir = data_dir
        self._keyframes = 0
        # In the window, "Remove" goes the window's way (asked, undoable); alone, at once.
        self.remove_handler: Callable[[int, QWidget], None] | None = None
        self._build()
        store.load(self._loaded)
        self.reload_folders()

    def _build(self) -> None:
        self.folders = QListWidget()
        self.folders.setObjectName("watched-folders")
        self.folders.setMinimumHeight(140)
        self.folders.setAlternatingRowColors(True)
        self.folders.itemSelectionChanged.connect(self._update_buttons)
        self.add_button = QPushButton("Add folder…")
        self.add_button.clicked.connect(self._choose_folder)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Stop watching this folder; its captions are kept")
        self.remove_button.clicked.connect(self.remove_selected)
        self.folders_message = message_label()
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        folders_box = QGroupBox("Watched folders")
        folders_layout = QVBoxLayout(folders_box)
        folders_layout.addWidget(self.folders, 1)
        folders_layout.addLayout(buttons)
        folders_layout.addWidget(self.folders_message)
        folders_layout.addWidget(
            note_label(
                "New and changed files in these folders are found automatically. Removing a "
                "folder keeps its captions; they come back if you add it again."
            )
        )

        self.auto_check = QCheckBox("Caption new and changed files automatically")
        self.keyframes_spin = QSpinBox()
        self.keyframes_spin.setRange(1, MAX_KEYFRAMES)
        self.keyframes_spin.setSuffix(" frames")
        self.keyframes_spin.setMinimumWidth(110)
        self.keyframes_spin.setToolTip("More frames describe a video better but take longer")
        captions_box = QGroupBox("Captions")
        captions_form = QFormLayout(captions_box)
        captions_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        captions_form.addRow("New files:", self.auto_check)
        captions_form.addRow("Keyframes per video:", self.keyframes_spin)
        self.metadata_combo = QComboBox()
        self.metadata_combo.setObjectName("metadata_write")
        for value, text in METADATA_CHOICES:
            self.metadata_combo.addItem(text, value.value)
        self.metadata_combo.setToolTip(
            "Captions and tags as XMP (description, keywords), so other photo apps see them"
        )
        self.import_check = QCheckBox("Read captions and keywords other apps wrote")
        self.import_check.setToolTip(
            "XMP, IPTC and EXIF descriptions become your captions when files are indexed"
        )
        captions_form.addRow("Write captions:", self.metadata_combo)
        captions_form.addRow("Existing captions:", self.import_check)

        self.data_path = QLabel(str(self._data_dir.root))
        self.data_path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.data_path.setWordWrap(True)
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(self.open_data_dir)
        path_row = QHBoxLayout()
        path_row.addWidget(QLabel("Data folder:"))
        path_row.addWidget(self.data_path, 1)
        path_row.addWidget(self.open_button)
        data_box = QGroupBox("Where the data lives")
        data_layout = QVBoxLayout(data_box)
        data_layout.addLayout(path_row)
        data_layout.addWidget(
            note_label(
                "The library database, thumbnails and downloaded models. Start Captionist with "
                "--data-dir or $CAPTIONIST_DATA_DIR to use another folder."
            )
        )

        layout = QVBoxLayout(self)
        layout.addWidget(folders_box, 1)
        layout.addWidget(captions_box)
        layout.addWidget(data_box)

        self._keyframes_timer = QTimer(self, singleShot=True, interval=SAVE_DELAY_MS)
        self._keyframes_timer.timeout.connect(self._save_keyframes)
        self.keyframes_spin.valueChanged.connect(self._keyframes_timer.start)
        self.auto_check.toggled.connect(lambda on: self._store.save({"auto_caption": on}))
        self.metadata_combo.currentIndexChanged.connect(
            lambda _i: self._store.save({"metadata_write": self.metadata_combo.currentData()})
        )
        self.import_check.toggled.connect(lambda on: self._store.save({"metadata_import": on}))
        for widget in self._stored_widgets():
            widget.setEnabled(False)  # until the stored values are shown
        self._update_buttons()

    def _stored_widgets(self) -> tuple[QWidget, ...]:
        return (self.auto_check, self.keyframes_spin, self.metadata_combo, self.import_check)

    def _loaded(self, values: SettingsValues, _extra: object) -> None:
        for widget in self._stored_widgets():
            widget.blockSignals(True)
        self.auto_check.setChecked(values.auto_caption)
        self._keyframes = max(1, min(values.keyframes_per_video, MAX_KEYFRAMES))
        self.keyframes_spin.setValue(self._keyframes)
        index = self.metadata_combo.findData(values.metadata_write.value)
        self.metadata_combo.setCurrentIndex(max(0, index))
        self.import_check.setChecked(values.metadata_import)
        for widget in self._stored_widgets():
            widget.blockSignals(False)
            widget.setEnabled(True)

    def _save_keyframes(self) -> None:
        if self.keyframes_spin.value() != self._keyframes:
            self._keyframes = self.keyframes_spin.value()
            self._store.save({"keyframes_per_video": self._keyframes})

    # -- folders --------------------------------------------------------------------------
    def reload_folders(self) -> None:
        db = self._db

        def load() -> list[tuple[int, str]]:
            return [(root.id, os.fsdecode(root.path)) for root in Library(db).roots()]

        self._background.run(load, self._show_folders, self._folder_error)

    def _show_folders(self, roots: list[tuple[int, str]]) -> None:
        self.folders.clear()
        for root_id, path in roots:
            item = QListWidgetItem(path)
            item.setToolTip(path)
            item.setData(ROOT_ROLE, root_id)
            self.folders.addItem(item)
        empty = "No folders yet: add one to start the library."
        if not roots:
            show_message(self.folders_message, empty)
        elif self.folders_message.text() == empty:
            show_message(self.folders_message, "")
        self._update_buttons()

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a folder to the library", start_folder())
        if path:
            self.add_folder(path)

    def add_folder(self, path: str) -> None:
        db = self._db

        def add() -> tuple[str, str]:
            try:
                root = Library(db).add_root(path)
            except LibraryError as exc:
                return "", str(exc)
            return os.fsdecode(root.path), ""

        def added(result: tuple[str, str]) -> None:
            root_path, problem = result
            if problem:
                show_message(self.folders_message, f"Cannot add it: {problem}", error=True)
                return
            show_message(self.folders_message, f"Added {root_path}; it is being scanned.")
            self.reload_folders()
            self.folder_added.emit(root_path)

        self._background.run(add, added, self._folder_error)

    def remove_selected(self) -> None:
        item = self.folders.currentItem()
        if item is None:
            return
        root_id, path, db = item.data(ROOT_ROLE), item.text(), self._db
        if self.remove_handler is not None:
            self.remove_handler(root_id, self)
            return

        def removed(_result: object) -> None:
            show_message(self.folders_message, f"Removed {path}; its captions are kept.")
            self.reload_folders()
            self.folder_removed.emit(root_id)

        self._background.run(lambda: Library(db).remove_root(root_id), removed, self._folder_error)

    def apply_changes(self, changes: Changes) -> None:
        """The window's change hub: folders removed or restored there are shown here."""
        if changes.folders:
            self.reload_folders()

    def _folder_error(self, message: str) -> None:
        show_message(self.folders_message, message, error=True)

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.folders.currentItem() is not None)

    def open_data_dir(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._data_dir.root)))

    def flush(self) -> None:
        """Save a pending edit now (the dialog is closing)."""
        if self._keyframes_timer.isActive():
            self._keyframes_timer.stop()
            self._save_keyframes()
