"""The library window: sidebar, thumbnail gallery, details, activity.

This class assembles the parts and wires them to one change hub: whoever changes the
library publishes what changed (`app.services.changes`), and each view decides whether
that concerns it. Everything that touches the disk or the database runs on background
pools; the caption worker is a separate process.
"""

from __future__ import annotations

import os
import sys
import threading

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication, QPixmap, QUndoStack
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QSplitter,
)

from app import APP_NAME
from app.core.captioning.events import CaptionEvent, Fatal
from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.queue_status import QueueActions
from app.core.storage.db import Database
from app.core.storage.network import network_warning
from app.services.background import Background
from app.services.changes import FOLDERS_CHANGED, LIBRARY_SCANNED, ChangeHub, Changes
from app.services.download_bridge import DownloadBridge
from app.services.thumbnails import ThumbnailService
from app.services.watch_bridge import WatchBridge
from app.services.worker_bridge import WorkerBridge
from app.ui.activity.panel import ActivityPanel
from app.ui.gallery.browser import Browser, Listing
from app.ui.gallery.item_actions import ItemActions, ItemCallbacks
from app.ui.gallery.model import GalleryModel
from app.ui.gallery.view import GalleryView
from app.ui.window.context import WindowContext
from app.ui.window.handover import Handover
from app.ui.window.menus import MenuParts, WindowExtras
from app.ui.window.parts import DetailsSide
from app.ui.window.sidebar import Sidebar
from app.ui.window.status import LibraryTotals
from app.ui.window.toolbar import MainToolbar

GIL_SWITCH_S = 0.0005
THUMBNAIL_RAM_BYTES = 64 * 2**20  # a few screens at any zoom; the disk cache has the rest
FIRST_SIZE = QSize(1440, 900)  # before the user has sized the window; never beyond the screen


class MainWindow(QMainWindow):
    def __init__(self, data_dir: DataDir) -> None:
        super().__init__()
        # Thumbnail and database threads run Python too; each paint callback of the
        # gallery needs the GIL, and waiting the default 5 ms switch interval per cell
        # turned one repaint into a 100+ ms stall.
        sys.setswitchinterval(GIL_SWITCH_S)
        self.setWindowTitle(APP_NAME)
        self.resize(_first_size())
        self.data_dir = data_dir
        self.db = Database(data_dir.database)
        self.library = Library(self.db)
        self.background = Background(self, threads=2)
        self.thumbnails = ThumbnailService(
            data_dir.thumbnails / "gallery",
            self,
            ram_bytes=THUMBNAIL_RAM_BYTES,
            threads=max(1, (os.cpu_count() or 2) - 1),  # a core stays with the GUI
        )
        self.undo_stack = QUndoStack(self)
        self.downloads = DownloadBridge(data_dir.models, self)
        self.hub = ChangeHub(self)
        self.context = WindowContext(
            self,
            data_dir,
            self.db,
            self.library,
            self.background,
            self.thumbnails,
            self.downloads,
            self.undo_stack,
            self.hub,
        )
        self._stopping = threading.Event()
        self._watch = WatchBridge(self.library, self.hub, self)
        self._worker = WorkerBridge(data_dir, self.hub, self)
        self._build()
        self._wire()
        self._restore_state()
        self.refresh()
        self.background.run(self._watch.restart, on_error=self.show_error)
        self._worker.start()
        self.extras.after_start()

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        context = self.context
        self.gallery_model = GalleryModel(self.db, self.background, self)
        self.gallery = GalleryView(self.gallery_model, self.thumbnails)
        self.browser = Browser(self.db, self.background, self.gallery_model, self)
        self.sidebar = Sidebar()
        self.toolbar = MainToolbar(self)
        self.addToolBar(self.toolbar)
        self.details = DetailsSide(context)
        self.activity = ActivityPanel(QueueActions(self.db), self.background)
        self.activity.attach_download(self.downloads)
        warnings = [problem.message for problem in self.library.settings.problems()]
        if network := network_warning(self.data_dir.root):  # SQLite over NFS/SMB
            warnings.insert(0, network)
        if warnings:  # found at open, reported once
            self.activity.show_warning("\n".join(warnings))
        self.splitter = QSplitter()
        self.splitter.setObjectName("main_splitter")
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.gallery)
        self.splitter.addWidget(self.details.widget)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([280, 780, 380])
        self.setCentralWidget(self.splitter)
        self.sidebar.add_footer(self.activity)
        self.empty_hint = QLabel(self.gallery.viewport())
        self.empty_hint.setObjectName("empty_hint")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setWordWrap(True)
        self.empty_hint.hide()
        self.items = ItemActions(
            self.db,
            self.background,
            self.hub,
            ItemCallbacks(
                selected_ids=self.gallery.selected_ids,
                accept=self.details.accept,
                remove=self.details.remove,
                edit=self.details.edit,
                message=lambda text: self.statusBar().showMessage(text, 5000),
                row_of=self.gallery_model.row_of,
            ),
            self,
        )
        self.totals = LibraryTotals(context, self.sidebar)
        self.extras = WindowExtras(
            context,
            MenuParts(
                self.gallery,
                self.items,
                self.toolbar,
                self.activity,
                choose_folder=self.choose_folder,
                add_folder=self.add_folder,
            ),
        )
        self.handover = Handover(context, self.gallery.select_item)
        self.extras.build_menus()

    def _wire(self) -> None:
        self.sidebar.view_selected.connect(self.browser.show_view)
        self.sidebar.add_folder_requested.connect(self.choose_folder)
        self.sidebar.remove_folder_requested.connect(self.remove_folder)
        self.toolbar.search_changed.connect(self.browser.set_search_text)
        self.toolbar.sort_changed.connect(self.browser.set_sort)
        self.toolbar.zoom_changed.connect(self.gallery.set_thumbnail_side)
        self.toolbar.captions_toggled.connect(self.gallery.set_show_captions)
        self.browser.listed.connect(self.handover.listed)  # selects first, then it is shown
        self.browser.listed.connect(self._listed)
        self.browser.counts_loaded.connect(self.sidebar.set_counts)
        self.browser.failed.connect(self.show_error)
        self.gallery.context_menu_requested.connect(
            lambda _ids, position: self.items.context_menu(position)
        )
        self.gallery.current_item_changed.connect(self._current_changed)
        self.gallery.item_activated.connect(lambda _id: self.items.open_selected())
        self.items.failed.connect(self.show_error)
        self.totals.loaded.connect(self.extras.library_loaded)
        self._worker.event_received.connect(self._worker_event)
        self._worker.event_received.connect(self.activity.handle_worker_event)
        self.activity.queue_changed.connect(
            lambda: self.hub.publish(Changes(queue=True, all_items=True, counts=True))
        )
        self.activity.current_item_changed.connect(self._activity_thumbnail)
        self.thumbnails.thumbnail_ready.connect(self._thumbnail_ready)
        self.downloads.finished.connect(lambda _model: self.hub.publish(Changes(captioning=True)))
        # Each view decides what of a change concerns it.
        for view in (
            self.gallery_model,
            self.browser,
            self.details,
            self.totals,
            self.activity,
            self._worker,
        ):
            self.hub.changed.connect(view.apply_changes)

    @property
    def no_welcome(self) -> bool:
        return self.extras.no_welcome

    @no_welcome.setter
    def no_welcome(self, value: bool) -> None:
        self.extras.no_welcome = value

    # -- library ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read folders, counts and the current listing (after scans)."""
        self.hub.publish(FOLDERS_CHANGED)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a folder to the library")
        if path:
            self.add_folder(path)

    def add_folder(self, path: str) -> None:
        self.statusBar().showMessage(f"Scanning {path}…")
        library, stopping = self.library, self._stopping

        def scan() -> str:
            root = library.add_root(path)
            report = library.scan(root.id, should_stop=stopping.is_set)
            return (
                f"{path}: {report.new:,} new, {report.changed:,} changed, {report.moved:,} "
                f"moved, {report.missing:,} missing, {len(report.errors):,} could not be read"
            )

        self.background.run(scan, self._scan_done, self.show_error)
        # Show items while the scan runs: the listing is re-read every second.
        self.extras.poll_while_scanning()

    def _scan_done(self, summary: str) -> None:
        self.extras.scan_finished()
        self.background.run(self._watch.restart, on_error=self.show_error)
        self.hub.publish(LIBRARY_SCANNED)
        QTimer.singleShot(0, lambda: self.statusBar().showMessage(summary, 10_000))

    def remove_folder(self, root_id: int) -> None:
        library, watch = self.library, self._watch

        def remove() -> None:
            library.remove_root(root_id)
            watch.restart()

        self.background.run(remove, lambda _r: self.refresh(), self.show_error)

    # -- items and events ---------------------------------------------------------------
    def _listed(self, listing: Listing, count: int) -> None:
        if count:
            self.empty_hint.hide()
        else:
            self.empty_hint.setText(_empty_text(listing))
            self.empty_hint.resize(self.gallery.viewport().size())
            self.empty_hint.show()
        self.toolbar.show_count(listing, count)
        current = self.gallery.current_item()
        self.details.show_item(current)

    def _current_changed(self, item_id: int | None) -> None:
        hit = self.gallery_model.hit_of(item_id) if item_id is not None else None
        self.details.show_item(item_id, hit.timestamp if hit else None)

    def _worker_event(self, event: CaptionEvent) -> None:
        if isinstance(event, Fatal):
            self.extras.captioning_waits(event.error)

    def _activity_thumbnail(self, item_id: int) -> None:
        row = self.gallery_model.row_of(item_id)
        pixmap = self.thumbnails.cached(item_id, row.mtime_ns) if row else None
        if pixmap is not None:
            self.activity.set_current_thumbnail(item_id, pixmap)
        elif row is not None:
            self.thumbnails.request(item_id, row.path, row.mtime_ns, row.size, row.kind)

    def _thumbnail_ready(self, item_id: int, _image: object) -> None:
        if item_id == self.activity.current_item_id:
            row = self.gallery_model.row_of(item_id)
            pixmap = self.thumbnails.cached(item_id, row.mtime_ns) if row else None
            if isinstance(pixmap, QPixmap):
                self.activity.set_current_thumbnail(item_id, pixmap)

    def show_error(self, message: str) -> None:
        self.context.show_error(message)

    # -- state and shutdown -------------------------------------------------------------
    def _ui_settings(self) -> QSettings:
        """Window layout lives with the library (--data-dir keeps runs apart)."""
        return QSettings(str(self.data_dir.root / "window.ini"), QSettings.Format.IniFormat)

    def _restore_state(self) -> None:
        settings = self._ui_settings()
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        splitter = settings.value("window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        self.toolbar.restore(settings)
        view = str(settings.value("window/view", "all"))
        self.sidebar.select_view(view)

    def _save_state(self) -> None:
        settings = self._ui_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("window/splitter", self.splitter.saveState())
        settings.setValue("window/view", self.sidebar.current_selection()[0])
        self.toolbar.save(settings)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._save_state()
        self._stopping.set()
        self.downloads.cancel()
        self._worker.stop(timeout=1.0)
        self._watch.stop(timeout=1.0)
        self.thumbnails.shutdown(500)
        self.activity.shutdown(300)
        self.details.shutdown()
        self.background.wait(1000)
        self.downloads.wait(0.5)
        self.db.close()
        super().closeEvent(event)


def _empty_text(listing: Listing) -> str:
    if listing.searching:
        return (
            f"Nothing matches “{listing.text.strip()}” here.\n\n"
            "Try fewer or shorter words, a prefix like beac*, OR between words, "
            "or the All view."
        )
    if listing.query.view == "all" and listing.query.root_id is None:
        return "Your library is empty.\n\nAdd a folder of photos or videos to start."
    return "Nothing in this view yet."


def _first_size() -> QSize:
    """The first-run size: 1440x900, or the screen's free area where that is smaller (a
    1280x800 laptop cut off the status bar and the details panel)."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return FIRST_SIZE
    return FIRST_SIZE.boundedTo(screen.availableGeometry().size())
