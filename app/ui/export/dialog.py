"""File → Export captions…: what to export (the view, the selection, the library), the
options of `form`, then a run with progress and Cancel and a summary in plain words.

Nothing is overwritten without asking: a jsonl or csv file that exists is asked about
before the run; per-image files that exist are kept, and the summary offers to
overwrite exactly those by running the same export again with `overwrite`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QLabel,
    QMessageBox,
    QProgressBar,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.core.datadir import DataDir
from app.core.export.formats import PER_IMAGE
from app.core.export.run import Export, ExportOptions, ExportSummary
from app.core.export.selection import Selection
from app.core.gallery import view_counts
from app.core.storage.db import Database
from app.services.background import Background
from app.ui.export.choices import load_choices, save_choices
from app.ui.export.form import ExportForm
from app.ui.export.runner import ExportFailed, ExportRunner
from app.ui.export.words import progress_words, shown, summary_lines, view_words
from app.ui.gallery.browser import Listing
from app.ui.gallery.item_actions import reveal_in_file_manager
from app.ui.settings.common import error_style
from app.ui.words import counted, similar_scope

Confirm = Callable[[str, str, Callable[[], None]], None]  # question, details, on yes
MakeSelection = Callable[[Database], Selection]
MIN_WIDTH = 640  # a typical path fits in the folder field


@dataclass(frozen=True)
class GalleryScope:
    """How the dialog asks the window what the gallery shows and what is selected; read
    when the dialog opens and again when an export starts."""

    listing: Callable[[], Listing]
    shown_ids: Callable[[], list[int]]
    selected_ids: Callable[[], list[int]]


class ExportDialog(QDialog):
    def __init__(
        self,
        db: Database,
        data_dir: DataDir,
        scope: GalleryScope,
        background: Background,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("export_dialog")
        self.setWindowTitle("Export captions")
        self.setMinimumWidth(MIN_WIDTH)  # room for a path and the summary's file names
        self._db, self._data_dir, self._scope, self._background = db, data_dir, scope, background
        self.runner = ExportRunner(db, self)
        self.runner.progressed.connect(self._progressed)
        self.runner.finished.connect(self._finished)
        self.confirm: Confirm = self._ask  # tests replace it
        self.reveal: Callable[[str], bool] = reveal_in_file_manager  # tests replace it
        self.last_box: QMessageBox | None = None
        self.last_summary: ExportSummary | None = None
        self._last_run: tuple[MakeSelection, ExportOptions] | None = None
        self._reveal_path: str | None = None

        self.view_radio = QRadioButton()
        self.view_radio.setObjectName("export_scope_view")
        self.selection_radio = QRadioButton()
        self.selection_radio.setObjectName("export_scope_selection")
        self.library_radio = QRadioButton("The whole library")
        self.library_radio.setObjectName("export_scope_library")
        self.view_radio.setChecked(True)
        scope_box = QGroupBox("Export the captions of")
        scope_layout = QVBoxLayout(scope_box)
        for radio in (self.view_radio, self.selection_radio, self.library_radio):
            scope_layout.addWidget(radio)

        self.form = ExportForm()
        self.form.set_choices(load_choices(data_dir))
        self.progress = QProgressBar()
        self.progress.setObjectName("export_progress")
        self.progress.hide()
        self.status = QLabel()
        self.status.setObjectName("export_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.hide()

        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton(
            "Export", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.export_button.setObjectName("export_start")
        self.export_button.setDefault(True)
        self.overwrite_button = self.buttons.addButton(
            "Overwrite", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.overwrite_button.setObjectName("export_overwrite_kept")
        self.reveal_button = self.buttons.addButton(
            "Show in folder", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.reveal_button.setObjectName("export_show_in_folder")
        self.close_button = self.buttons.addButton("Close", QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button.setObjectName("export_close")
        self.export_button.clicked.connect(self.start)
        self.overwrite_button.clicked.connect(self.overwrite_kept)
        self.reveal_button.clicked.connect(self._reveal)
        self.close_button.clicked.connect(self.reject)
        self._show_after(None)

        layout = QVBoxLayout(self)
        layout.addWidget(scope_box)
        layout.addWidget(self.form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        if parent is not None:
            parent.window().installEventFilter(self)  # the window closing stops a run
        self.refresh_scope()

    # -- scope ----------------------------------------------------------------------------
    def refresh_scope(self) -> None:
        """Counts as the gallery has them now (cheap), and the library's in the background."""
        listing = self._scope.listing()
        shown_count = len(self._scope.shown_ids())
        where = view_words(listing.query.view, listing.query.root_id, listing.text)
        if listing.similar:
            where = similar_scope(listing.similar_name).lower()
        self.view_radio.setText(f"The current view: {where} ({counted(shown_count, 'item')})")
        selected = len(self._scope.selected_ids())
        self.selection_radio.setText(f"The selection ({counted(selected, 'item')})")
        self.selection_radio.setEnabled(selected > 0)
        if self.selection_radio.isChecked() and not selected:
            self.view_radio.setChecked(True)
        db = self._db
        self._background.run(lambda: view_counts(db)["all"], self._library_counted)

    def _library_counted(self, items: int) -> None:
        if shiboken6.isValid(self):
            self.library_radio.setText(f"The whole library ({counted(items, 'item')})")

    def _selection(self) -> MakeSelection:
        """Which items, fixed now: the export covers what the user saw when they clicked."""
        if self.library_radio.isChecked():
            return lambda _db: Selection.whole_library()
        if self.selection_radio.isChecked():
            ids = self._scope.selected_ids()
            return lambda _db: Selection.of_ids(ids)
        listing = self._scope.listing()
        if listing.searching:  # the hits the gallery shows, in its order
            ids, text = self._scope.shown_ids(), listing.text.strip()
            return lambda _db: Selection.of_ids(ids, f"the search {text!r}")
        if listing.similar:  # Find similar: what the gallery shows, nearest first
            ids, what = self._scope.shown_ids(), similar_scope(listing.similar_name).lower()
            return lambda _db: Selection.of_ids(ids, f"the items {what}")
        query = listing.query
        return lambda db: Selection.of_view(db, query)

    # -- running --------------------------------------------------------------------------
    def start(self) -> None:
        if self.runner.running:
            return
        options = self.form.options()
        if isinstance(options, str):
            self._say_error(options)
            return
        save_choices(self._data_dir, self.form.choices())
        selection = self._selection()
        if options.format not in PER_IMAGE:
            target = Export(self._db, Selection.whole_library(), options).output_file()
            if os.path.lexists(target):
                name = shown(os.fspath(target))
                self.confirm(
                    f"{name} exists. Overwrite it?",
                    "The export replaces the whole file. Nothing is written if you cancel.",
                    lambda: self._run(selection, replace(options, overwrite=True)),
                )
                self._say(f"Not exported yet: {name} exists.")
                return
        self._run(selection, options)

    def overwrite_kept(self) -> None:
        """The same export again, replacing the files the last run kept."""
        if self._last_run is None or self.runner.running:
            return
        selection, options = self._last_run
        self._run(selection, replace(options, overwrite=True))

    def cancel(self) -> None:
        if self.runner.running:
            self.runner.cancel()
            self.close_button.setEnabled(False)
            self._say("Cancelling…")

    def _run(self, selection: MakeSelection, options: ExportOptions) -> None:
        self._last_run = (selection, options)
        self._show_after(None)
        self._set_running(True)
        self.progress.setRange(0, 0)  # busy until the first count arrives
        self._say(progress_words(0, 0))
        self.runner.start(selection, options)

    def _progressed(self, done: int, total: int) -> None:
        if not self.runner.running:
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self._say(progress_words(done, total))

    def _finished(self, outcome: ExportSummary | ExportFailed) -> None:
        self._set_running(False)
        if isinstance(outcome, ExportFailed):
            self.last_summary = None
            self._say_error(f"Could not export: {outcome.reason}")
            return
        self.last_summary = outcome
        self._show_after(outcome)
        lines = summary_lines(outcome)
        if outcome.failed:
            self._say_error("\n".join(lines))
        else:
            self._say("\n".join(lines))

    def _set_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        for widget in (self.form, self.view_radio, self.library_radio, self.export_button):
            widget.setEnabled(not running)
        self.selection_radio.setEnabled(not running and bool(self._scope.selected_ids()))
        self.close_button.setEnabled(True)
        self.close_button.setText("Cancel" if running else "Close")

    def _show_after(self, summary: ExportSummary | None) -> None:
        """Buttons that follow a run: overwrite what it kept, show where it wrote."""
        kept = summary is not None and summary.kept > 0 and not summary.cancelled
        self.overwrite_button.setVisible(kept)
        if summary is not None and kept:
            self.overwrite_button.setText(f"Overwrite the {counted(summary.kept, 'kept file')}")
        self._reveal_path = self._written_where(summary)
        self.reveal_button.setVisible(self._reveal_path is not None)

    def _written_where(self, summary: ExportSummary | None) -> str | None:
        if summary is None or self._last_run is None:
            return None
        if summary.output:
            return summary.output
        out = self._last_run[1].out
        if out is None or not summary.files:  # beside the images: in many folders
            return None
        # A trailing separator: the file manager opens the folder itself, not its parent.
        return os.path.join(os.fspath(out), "")

    def _reveal(self) -> None:
        path = self._reveal_path
        if path and not self.reveal(path):
            self._say(f"Couldn't open a file manager; the files are in {shown(path)}")

    # -- words ----------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.status.setStyleSheet("")
        self.status.setText(text)
        self.status.show()

    def _say_error(self, text: str) -> None:
        self.status.setStyleSheet(error_style())
        self.status.setText(text)
        self.status.show()

    def _ask(self, question: str, details: str, on_yes: Callable[[], None]) -> None:
        """A window-modal question; open(), not exec(): nothing waits on it."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Export captions",
            question,
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("export_overwrite")
        box.setInformativeText(details)
        overwrite_role = QMessageBox.ButtonRole.DestructiveRole
        box.addButton("Overwrite", overwrite_role)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def answered(_result: int) -> None:
            clicked = box.clickedButton() if shiboken6.isValid(box) else None
            if clicked is not None and box.buttonRole(clicked) == overwrite_role:
                on_yes()
            box.deleteLater()

        box.finished.connect(answered)
        self.last_box = box
        box.open()

    # -- closing --------------------------------------------------------------------------
    def reject(self) -> None:
        """Esc, Close or the title bar's ✕ while exporting cancels; it closes once done."""
        if self.runner.running:
            self.cancel()
            return
        super().reject()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and watched is not self:
            self.runner.shutdown()
        return False
