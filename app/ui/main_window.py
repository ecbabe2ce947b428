"""The library window: folders on the left, caption search on the right.

Everything that touches the disk or the database runs on the background pool;
this class only turns results into widgets.
"""

from __future__ import annotations

import os
import threading

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME
from app.core.datadir import DataDir
from app.core.library.library import Library, LibraryStatus
from app.core.search import SearchHit, recent, search
from app.core.storage.db import Database
from app.services.background import Background
from app.services.watch_bridge import WatchBridge
from app.services.worker_bridge import WorkerBridge

SEARCH_DEBOUNCE_MS = 200
SEARCH_HELP = (
    'Search captions, tags and names: beach dog · beac* · "red car" · cat OR dog · -cat · '
    "tag:sunset · folder:2024 · type:video · by:me · after:2024-05"
)
PATH_ROLE = Qt.ItemDataRole.UserRole
ROOT_ROLE = Qt.ItemDataRole.UserRole + 1


class MainWindow(QMainWindow):
    def __init__(self, data_dir: DataDir) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.resize(1100, 700)
        self._db = Database(data_dir.database)
        self._library = Library(self._db)
        self._background = Background(self)
        self._stopping = threading.Event()
        self._search_serial = 0
        self._watch = WatchBridge(self._library, self)
        self._watch.library_changed.connect(self._library_changed)
        self._worker = WorkerBridge(data_dir, self)
        self._worker.event_received.connect(self._worker_event)
        self._build()
        self.refresh()
        self._background.run(self._watch.restart, on_error=self._show_error)
        self._worker.start()

    # -- layout -----------------------------------------------------------------------
    def _build(self) -> None:
        self.folders = QListWidget()
        self.folders.setObjectName("folders")
        add = QPushButton("Add folder…")
        add.clicked.connect(self._choose_folder)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Stop tracking this folder; captions are kept")
        self.remove_button.clicked.connect(self._remove_selected_folder)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(self.remove_button)
        left = QVBoxLayout()
        left.addWidget(QLabel("<b>Library folders</b>"))
        left.addWidget(self.folders)
        left.addLayout(buttons)

        self.search_field = QLineEdit()
        self.search_field.setObjectName("search")
        self.search_field.setPlaceholderText("Search captions, tags, file names…")
        self.search_field.setToolTip(SEARCH_HELP)
        self.search_field.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self._run_search)
        # Captions arrive one by one: refresh at most twice a second, not per caption.
        self._caption_refresh = QTimer(self, singleShot=True, interval=500)
        self._caption_refresh.timeout.connect(self.refresh)
        self._caption_refresh.timeout.connect(self._run_search)
        self.search_field.textChanged.connect(self._search_timer.start)
        self.results = QListWidget()
        self.results.setObjectName("results")
        self.results.setWordWrap(True)
        self.results.setAlternatingRowColors(True)
        self.results.setSpacing(2)
        self.results.itemActivated.connect(self._open_item)
        self.hint = QLabel(SEARCH_HELP)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: palette(mid);")
        right = QVBoxLayout()
        right.addWidget(self.search_field)
        right.addWidget(self.hint)
        right.addWidget(self.results)

        splitter = QSplitter()
        for layout in (left, right):
            panel = QWidget()
            panel.setLayout(layout)
            splitter.addWidget(panel)
        splitter.setSizes([280, 820])
        self.setCentralWidget(splitter)
        self.statusBar().showMessage("Loading library…")
        self.captioning = QLabel("")
        self.captioning.setObjectName("captioning")
        self.statusBar().addPermanentWidget(self.captioning)
        self._run_search()

    # -- folders and scanning --------------------------------------------------------------
    def refresh(self) -> None:
        def load() -> tuple[list[tuple[int, str, str]], LibraryStatus]:
            roots = [(r.id, r.path, r.watch_state) for r in self._library.roots()]
            return roots, self._library.status()

        self._background.run(load, self._show_library, self._show_error)

    def _show_library(self, loaded: tuple[list[tuple[int, str, str]], LibraryStatus]) -> None:
        roots, status = loaded
        self.folders.clear()
        for root_id, path, _state in roots:
            item = QListWidgetItem(os.path.basename(path) or path)
            item.setToolTip(path)
            item.setData(ROOT_ROLE, root_id)
            self.folders.addItem(item)
        self.statusBar().showMessage(
            f"{status.items} items ({status.photos} photos, {status.videos} videos) · "
            f"{status.captioned} captioned · {status.queued} waiting for captions · "
            f"{status.errors} errors"
        )
        self.hint.setVisible(not self.search_field.text())
        if not roots:
            self.hint.setText("Add a folder of photos or videos to start. " + SEARCH_HELP)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a folder to the library")
        if path:
            self.add_folder(path)

    def add_folder(self, path: str) -> None:
        self.statusBar().showMessage(f"Scanning {path}…")

        def scan() -> str:
            root = self._library.add_root(path)
            report = self._library.scan(root.id, should_stop=self._stopping.is_set)
            return (
                f"{os.fsdecode(root.path)}: {report.new} new, {report.changed} changed, "
                f"{report.moved} moved, {report.missing} missing, "
                f"{len(report.errors)} could not be read"
            )

        self._background.run(scan, self._scan_done, self._show_error)

    def _worker_event(self, event: dict[str, object]) -> None:
        """What the caption worker does, in a word; captions appear as they are stored."""
        kind = event.get("event")
        if kind == "fatal":
            self.captioning.setText(f"Captioning waits: {event.get('error')}")
        elif kind == "model_loaded":
            self.captioning.setText(f"Model ready: {event.get('model')}")
        elif kind == "started":
            self.captioning.setText("Captioning…")
        elif kind == "paused":
            self.captioning.setText("Captioning paused")
        elif kind == "idle":
            self.captioning.setText("All captioned")
        elif kind == "crashed":
            self.captioning.setText("The caption engine crashed; restarting…")
        elif kind == "progress":
            eta = event.get("eta_seconds")
            left = f" · about {_duration(float(eta))} left" if eta else ""
            self.captioning.setText(
                f"Captioned {event['done']} of {event['total']} · "
                f"{float(event['per_minute']):.0f}/min{left}"  # type: ignore[arg-type]
            )
        elif kind in ("finished", "failed"):
            self._caption_refresh.start()

    def _scan_done(self, summary: str) -> None:
        self._background.run(self._watch.restart, on_error=self._show_error)
        self._worker.nudge()
        self.refresh()
        QTimer.singleShot(0, lambda: self.statusBar().showMessage(summary, 10_000))
        self._run_search()

    def _remove_selected_folder(self) -> None:
        item = self.folders.currentItem()
        if item is None:
            return
        root_id = item.data(ROOT_ROLE)

        def remove() -> None:
            self._library.remove_root(root_id)
            self._watch.restart()

        self._background.run(remove, lambda _r: self.refresh(), self._show_error)

    def _library_changed(self, _report: object) -> None:
        """Files changed on disk: show the new state (coalesced by the watcher)."""
        self.refresh()
        self._run_search()

    # -- search ---------------------------------------------------------------------------
    def _run_search(self) -> None:
        text = self.search_field.text()
        self.hint.setVisible(not text)
        self._search_serial += 1
        serial = self._search_serial

        def find() -> tuple[int, list[SearchHit]]:
            if not text.strip():
                return serial, recent(self._db, limit=500)
            return serial, search(self._db, text, limit=200, as_you_type=True, highlight=("«", "»"))

        self._background.run(find, self._show_results, self._show_error)

    def _show_results(self, result: tuple[int, list[SearchHit]]) -> None:
        serial, hits = result
        if serial != self._search_serial:
            return  # the user kept typing: a newer search is on its way
        self.results.clear()
        if not hits and self.search_field.text().strip():
            self.results.addItem("No matches. Try fewer words, a prefix like beac*, or OR.")
            return
        for hit in hits:
            moment = f"  ▶ {hit.timestamp:.1f}s" if hit.timestamp is not None else ""
            matched_name_only = hit.snippet.replace("«", "").replace("»", "") == hit.name
            detail = os.path.dirname(hit.path) if matched_name_only else hit.snippet
            item = QListWidgetItem(f"{hit.name}{moment}\n{detail or 'no caption yet'}")
            item.setToolTip(hit.path)
            item.setData(PATH_ROLE, hit.path)
            self.results.addItem(item)

    def _open_item(self, item: QListWidgetItem) -> None:
        path = item.data(PATH_ROLE)
        if path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def _show_error(self, message: str) -> None:
        self.statusBar().showMessage(f"Something went wrong: {message}", 15_000)

    # -- shutdown -------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        self._stopping.set()
        self._worker.stop(timeout=1.0)
        self._watch.stop(timeout=1.0)
        self._background.wait(1000)
        self._db.close()
        super().closeEvent(event)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
