"""What the Models and Search pages share: a catalog table of downloadable models with
Download / Cancel / Remove and the progress of the running download.

Both pages list a catalog (caption models, embedding models) whose downloads run through the
one shared `DownloadBridge`, so they show, start, cancel and remove the same way; only the
columns, which model is "in use" and what follows a finished download differ, and those stay
in the pages (the hooks at the end of `CatalogPage`). The bridge downloads one model at a
time for both pages: each page shows only the downloads of its own catalog (`_in_catalog`),
but its Cancel button follows whatever the bridge downloads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Generic, Protocol, TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
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
from app.services.background import Background
from app.services.download_bridge import DownloadBridge
from app.ui.settings.common import SettingsStore, message_label, show_message
from models.installed import remove_model

ID_ROLE = Qt.ItemDataRole.UserRole  # every cell of a row carries its model's id


class DownloadableEntry(Protocol):
    """A catalog entry as the table needs it (models.catalog and models.embedding_catalog)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def download_mb(self) -> int: ...


class CatalogRow(Protocol):
    """One model of the table and its install state, read off the GUI thread."""

    @property
    def entry(self) -> DownloadableEntry: ...
    @property
    def installed(self) -> bool: ...
    @property
    def partial(self) -> bool: ...  # a stopped download waits to be resumed


RowT = TypeVar("RowT", bound=CatalogRow)


class CatalogPage(QWidget, Generic[RowT]):
    """A settings page built around a catalog table; the page lays the widgets out."""

    rows_shown = Signal()  # the table was (re)filled; tests and the dialog wait on it

    columns: ClassVar[tuple[str, ...]]
    status_column: ClassVar[int]
    centered_columns: ClassVar[tuple[int, ...]] = ()  # the short numbers
    remove_title: ClassVar[str]  # the title of the question before files are deleted

    def __init__(
        self,
        store: SettingsStore,
        background: Background,
        data_dir: DataDir,
        bridge: DownloadBridge,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._background = background
        self._models_dir = data_dir.models
        self._bridge = bridge
        self._rows: list[RowT] = []
        self._percent: dict[str, int] = {}  # per model, so the cell changes once a percent
        self.confirm: Callable[[str], bool] = self._ask  # replaced in tests
        self._build_catalog()
        self._bridge.progress.connect(self._download_progress)
        self._bridge.finished.connect(self._download_finished)
        self._bridge.failed.connect(self._download_failed)
        self._bridge.cancelled.connect(self._download_cancelled)

    # -- layout -----------------------------------------------------------------------
    def _build_catalog(self) -> None:
        """The table, its buttons and the progress lines; the page adds its own settings
        (sizes, stretch) and places them with `_add_catalog`."""
        self.table = QTableWidget(0, len(self.columns))
        self.table.setHorizontalHeaderLabels(self.columns)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setMinimumSectionSize(28)
        header = self.table.horizontalHeader()
        for column in range(len(self.columns)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download_selected)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.clicked.connect(self._bridge.cancel)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(self.remove_selected)
        self.catalog_buttons = QHBoxLayout()  # a page may add buttons after the stretch
        for button in (self.download_button, self.cancel_button, self.remove_button):
            self.catalog_buttons.addWidget(button)
        self.catalog_buttons.addStretch(1)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(14)
        self.progress_label = QLabel()
        self.progress_bar.setVisible(False)
        self.progress_label.setVisible(False)
        self.message = message_label()

    def _add_catalog(self, layout: QVBoxLayout, table_stretch: int = 0) -> None:
        layout.addWidget(self.table, table_stretch)
        layout.addLayout(self.catalog_buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.message)

    # -- the table ------------------------------------------------------------------------
    def _show_rows(self) -> None:
        selected = self.selected_model()
        self.table.setRowCount(len(self._rows))
        for index, row in enumerate(self._rows):
            for column, text in enumerate(self._cells(row)):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, row.entry.id)
                if column in self.centered_columns:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(index, column, item)
            self._dress_row(index, row)
        if selected:
            self.select_model(selected)
        self._update_buttons()
        self.rows_shown.emit()

    def _status(self, row: RowT) -> str:
        model_id = row.entry.id
        if self._bridge.current() == model_id:
            percent = self._percent.get(model_id)
            return f"Downloading… {percent}%" if percent is not None else "Downloading…"
        if row.installed:
            return "✓ In use" if self._in_use(model_id) else "Installed"
        return "Partly downloaded" if row.partial else "Not installed"

    def status_of(self, model_id: str) -> str:
        """The Status cell of a model (for the window's tests and tooltips)."""
        index = self._row_index(model_id)
        item = self.table.item(index, self.status_column) if index is not None else None
        return item.text() if item is not None else ""

    def _cell(self, index: int, column: int) -> QTableWidgetItem:
        item = self.table.item(index, column)
        assert item is not None  # _show_rows fills every cell of the rows in self._rows
        return item

    def _row_index(self, model_id: str) -> int | None:
        return next((i for i, row in enumerate(self._rows) if row.entry.id == model_id), None)

    def _row(self, model_id: str | None) -> RowT | None:
        index = self._row_index(model_id) if model_id else None
        return self._rows[index] if index is not None else None

    def _name_of(self, model_id: str) -> str:
        row = self._row(model_id)
        return row.entry.name if row else model_id

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

    # -- actions ----------------------------------------------------------------------------
    def download_selected(self) -> None:
        model_id = self.selected_model()
        if model_id and self._bridge.start(model_id):
            self._percent.pop(model_id, None)
            show_message(self.message, "")
            self._show_progress(model_id, 0, 0, 0.0, None)
            self._show_rows()

    @staticmethod
    def _delete_question(entry: DownloadableEntry) -> str:
        return f"Delete the files of {entry.name} ({format_mb(entry.download_mb)})?"

    def _remove(self, entry: DownloadableEntry, question: str, then: Callable[[], None]) -> None:
        """Delete a model's files once the user agrees to `question`; `then` runs after
        (the page lets go of the model) and before the table is read again."""
        if not self.confirm(question):
            return
        models_dir = self._models_dir

        def removed(_result: object) -> None:
            show_message(self.message, f"Removed {entry.name}.")
            then()
            self.reload()

        self._background.run(lambda: remove_model(entry.id, models_dir), removed, self._show_error)

    def _ask(self, question: str) -> bool:
        answer = QMessageBox.question(self, self.remove_title, question)
        return answer == QMessageBox.StandardButton.Yes

    # -- download signals ---------------------------------------------------------------
    def _mine(self, model_id: str) -> bool:
        """A download of this page's catalog (the other page shows the others)."""
        if self._in_catalog(model_id):
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
            item = self.table.item(index, self.status_column) if index is not None else None
            if item is not None:
                item.setText(f"Downloading… {percent}%")
        self._update_buttons()

    def _show_progress(
        self, model_id: str, done: int, total: int, rate: float, eta: float | None
    ) -> None:
        name = self._name_of(model_id)
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
        if self._mine(model_id):
            self._download_ended(self._installed(model_id, self._name_of(model_id)))

    def _download_failed(self, model_id: str, message: str) -> None:
        if self._mine(model_id):
            self._download_ended(message, error=True)

    def _download_cancelled(self, model_id: str) -> None:
        if self._mine(model_id):
            self._download_ended("Download cancelled. Download again to continue where it stopped.")

    def _show_error(self, message: str) -> None:
        show_message(self.message, message, error=True)
        self._update_buttons()

    # -- what each page decides ---------------------------------------------------------
    def reload(self) -> None:
        """Re-read the catalog and the install state off the GUI thread, then `_show_rows`."""
        raise NotImplementedError

    def remove_selected(self) -> None:
        """Ask, then `_remove` the selected model (what the page lets go of differs)."""
        raise NotImplementedError

    def _cells(self, row: RowT) -> tuple[str, ...]:
        """The texts of a row, one per column (the status column: `_status(row)`)."""
        raise NotImplementedError

    def _dress_row(self, index: int, row: RowT) -> None:
        """Tooltips and colours of a filled row."""

    def _in_use(self, model_id: str) -> bool:
        """Whether the page's setting uses this installed model ("✓ In use")."""
        raise NotImplementedError

    def _in_catalog(self, model_id: str) -> bool:
        """Whether a download of the bridge is one of this page's models."""
        raise NotImplementedError

    def _installed(self, model_id: str, name: str) -> str:
        """What follows a finished download on this page; returns the line that says so."""
        raise NotImplementedError
