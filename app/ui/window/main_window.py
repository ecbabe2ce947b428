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
from app.core.captioning.events import CaptionEvent, Fatal, ModelLoaded, Started
from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.library.reconcile import ScanReport
from app.core.queue_status import QueueActions
from app.core.storage.db import Database
from app.core.storage.network import network_warning
from app.core.storage.problems import LibraryDamaged
from app.core.text import counted
from app.services.background import Background
from app.services.changes import FOLDERS_CHANGED, LIBRARY_SCANNED, ChangeHub, Changes
from app.services.download_bridge import DownloadBridge
from app.services.search_service import SearchService
from app.services.thumbnails import ThumbnailService
from app.services.watch_bridge import WatchBridge
from app.services.worker_bridge import WorkerBridge
from app.ui.activity.panel import ActivityPanel
from app.ui.gallery.browser import Browser, Listing
from app.ui.gallery.item_actions import ItemActions, ItemCallbacks
from app.ui.gallery.model import GalleryModel
from app.ui.gallery.view import GalleryView
from app.ui.places import start_folder
from app.ui.viewer.stage import Stage
from app.ui.window.context import WindowContext
from app.ui.window.damage import DamageNotice
from app.ui.window.folders import FolderRemoval
from app.ui.window.handover import Handover
from app.ui.window.menus import MenuParts, WindowExtras
from app.ui.window.notice import Notice
from app.ui.window.panels import SidePanels
from app.ui.window.parts import DetailsSide
from app.ui.window.sidebar import Sidebar
from app.ui.window.status import LibraryTotals
from app.ui.window.toolbar import MainToolbar
from app.ui.words import set_waiting_for_model

GIL_SWITCH_S = 0.0005
THUMBNAIL_RAM_BYTES = 64 * 2**20  # a few screens at any zoom; the disk cache has the rest
BACKUP_CHECK_MS = 3600 * 1000
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
        # Damage found while open: nothing more is written, and the user is asked
        # whether to close and recover (app.ui.application reopens after recovery).
        self.recovery_wanted = False
        self.damage = DamageNotice(self, self._close_for_recovery)
        self.db.on_damaged = self.damage.seen_problem
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
        self.search = SearchService(self.db, self.background, self)
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
            self.search,
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
        # The day's backup is taken at open; a window left open for days takes it too.
        self._backups = QTimer(self, interval=BACKUP_CHECK_MS)
        self._backups.timeout.connect(lambda: self.background.run(self.db.backup_if_due))
        self._backups.start()

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        context = self.context
        self.gallery_model = GalleryModel(self.db, self.background, self)
        self.gallery = GalleryView(self.gallery_model, self.thumbnails)
        search = self.search
        self.browser = Browser(
            self.db, self.background, self.gallery_model, lambda: search.finder, self
        )
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
        self.stage = Stage(context, self.gallery, self._moment_of)  # grid or large view
        self.splitter.addWidget(self.stage)
        self.splitter.addWidget(self.details.widget)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([280, 780, 380])
        self.panels = SidePanels(self, self.splitter, self.sidebar, self.details.widget)
        self.setCentralWidget(self.splitter)
        self.sidebar.add_footer(self.activity)
        self.empty_hint = QLabel(self.gallery.viewport())
        self.empty_hint.setObjectName("empty_hint")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setWordWrap(True)
        self.empty_hint.hide()
        self.notice = Notice(self.gallery)
        self._undo_index = 0
        self._select_after: tuple[int, frozenset[int]] | None = None
        self.folders = FolderRemoval(context, self.details.edits, self._watch.restart, self.notify)
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
                notify=self.notify,
                listed_ids=self.gallery_model.ids,
                select_after_removal=self._select_after_removal,
                find_similar=self.browser.show_similar,
                finder=lambda: search.finder,
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
                large_view=self.stage.open_action,
                panel_actions=[*self.panels.actions.values(), self.panels.both],
                remove_folder=self.folders.remove,
                details=self.details,
                listing=lambda: self.browser.listing,
            ),
        )
        self.handover = Handover(context, self.gallery.select_item)
        self.extras.build_menus()

    def _wire(self) -> None:
        self.sidebar.view_selected.connect(self.browser.show_view)
        self.sidebar.add_folder_requested.connect(self.choose_folder)
        self.sidebar.remove_folder_requested.connect(self.remove_folder)
        self.toolbar.search_changed.connect(self.browser.set_search_text)
        self.toolbar.search_cleared.connect(self.gallery.setFocus)
        self.toolbar.sort_changed.connect(self.browser.set_sort)
        self.toolbar.zoom_changed.connect(self.gallery.set_thumbnail_side)
        self.toolbar.captions_toggled.connect(self.gallery.set_show_captions)
        self.browser.listed.connect(self.handover.listed)  # selects first, then it is shown
        self.browser.listed.connect(self._listed)
        self.browser.listed.connect(self.items.whole.listed)  # its "All N in this view"
        self.browser.counts_loaded.connect(self.sidebar.set_counts)
        self.browser.failed.connect(self.show_error)
        self.browser.notice_changed.connect(self.toolbar.show_notice)
        self.browser.similar_refused.connect(self.notice.show_text)
        self.toolbar.similar_left.connect(self._leave_similar)
        self.toolbar.search_focused.connect(self.search.warm_up)
        self.gallery.escape_pressed.connect(self._leave_similar)  # back from Find similar
        self.gallery.context_menu_requested.connect(
            lambda _ids, position: self.items.context_menu(position)
        )
        self.gallery.current_item_changed.connect(self._current_changed)
        self.gallery.item_activated.connect(lambda _id: self.stage.open())
        self.gallery.selectionModel().selectionChanged.connect(self._selection_changed)
        self.undo_stack.indexChanged.connect(self._undo_index_changed)
        self.items.failed.connect(self.show_error)
        self.totals.loaded.connect(self.extras.library_loaded)
        self._worker.event_received.connect(self._worker_event)
        self._worker.event_received.connect(self.activity.handle_worker_event)
        self.activity.queue_changed.connect(
            lambda: self.hub.publish(Changes(queue=True, all_items=True, counts=True))
        )
        self.activity.current_item_changed.connect(self._activity_thumbnail)
        self.activity.download_requested.connect(self.downloads.start)
        self.activity.choose_model_requested.connect(lambda: self.extras.open_settings("Models"))
        self.thumbnails.thumbnail_ready.connect(self._thumbnail_ready)
        self.downloads.finished.connect(lambda _model: self.hub.publish(Changes(captioning=True)))
        self.downloads.embedding_installed.connect(self.extras.embedding_installed)
        # Tab follows the eye: the folders, the search box, the grid, then the caption.
        chain = (
            self.sidebar.tree,
            self.toolbar.search,
            self.gallery,
            self.details.panel.editor.editor,
        )
        for first, second in zip(chain, chain[1:], strict=False):
            self.setTabOrder(first, second)
        # Each view decides what of a change concerns it.
        for view in (
            self.gallery_model,
            self.browser,
            self.details,
            self.totals,
            self.activity,
            self._worker,
            self.search,
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
        path = QFileDialog.getExistingDirectory(self, "Add a folder to the library", start_folder())
        if path:
            self.add_folder(path)

    def add_folder(self, path: str) -> None:
        self.statusBar().showMessage(f"Scanning {path}…")
        library, stopping = self.library, self._stopping

        def scan() -> str:
            root = library.add_root(path)
            report = library.scan(root.id, should_stop=stopping.is_set)
            return scan_summary(path, report)

        self.background.run(scan, self._scan_done, self.show_error)
        # Show items while the scan runs: the listing is re-read every second.
        self.extras.poll_while_scanning()

    def _scan_done(self, summary: str) -> None:
        self.extras.scan_finished()
        self.background.run(self._watch.restart, on_error=self.show_error)
        self.hub.publish(LIBRARY_SCANNED)
        QTimer.singleShot(0, lambda: self.statusBar().showMessage(summary, 10_000))

    def remove_folder(self, root_id: int) -> None:
        """Asks first (with the count), then removes through the undo stack."""
        self.folders.remove(root_id)

    # -- notices and undo ---------------------------------------------------------------
    def notify(self, text: str, undoable: bool = False) -> None:
        """A transient notice over the gallery; undoable: its Undo button takes back the
        command just pushed (if it is still the last one done)."""
        if not undoable:
            self.notice.show_text(text)
            return
        stack, index = self.undo_stack, self.undo_stack.index()

        def undo() -> None:
            if stack.index() == index and stack.canUndo():
                stack.undo()

        self.notice.show_text(text, "Undo", undo)

    def _undo_index_changed(self, index: int) -> None:
        """Say what an undo undid: it may have changed something not on screen."""
        before, self._undo_index = self._undo_index, index
        if index < before:
            undone = [self.undo_stack.text(i) for i in range(index, before)]
            if any(undone):  # not a cleared stack
                self.notice.show_text(f"Undone: {'; '.join(t for t in reversed(undone) if t)}")

    def _select_after_removal(self, item_id: int, removed: list[int]) -> None:
        """Select `item_id` now and again once the listing without `removed` arrives."""
        self._select_after = (item_id, frozenset(removed))
        self.gallery.select_item(item_id)

    def _selection_changed(self, *_args: object) -> None:
        selected = len(self.gallery.selectionModel().selectedIndexes())
        self.toolbar.show_selected(selected)
        self.items.selection_changed(selected)

    def _leave_similar(self) -> None:
        source = self.browser.listing.similar_to
        if source is not None:
            self._select_after = (source, frozenset())  # back where the user was
            self.browser.leave_similar()
            self.gallery.setFocus()

    # -- items and events ---------------------------------------------------------------
    def _listed(self, listing: Listing, count: int) -> None:
        scope = self.sidebar.scope_title(listing.query.view, listing.query.root_id)
        if count:
            self.empty_hint.hide()
        else:
            self.empty_hint.setText(_empty_text(listing, scope))
            self.empty_hint.resize(self.gallery.viewport().size())
            self.empty_hint.show()
        self.toolbar.show_count(listing, count, scope, self.gallery_model.found_by_meaning())
        if self._select_after is not None:
            item_id, removed = self._select_after
            listed = set(self.gallery_model.ids())
            if item_id not in listed:
                self._select_after = None
            elif removed.isdisjoint(listed):
                self._select_after = None
                self.gallery.select_item(item_id)
        if listing.similar and count and self.gallery.current_item() is None:
            self.gallery.select_item(self.gallery_model.ids()[0])  # the nearest, in details
        self._selection_changed()
        current = self.gallery.current_item()
        self.details.show_item(current)

    def _moment_of(self, item_id: int) -> float | None:
        hit = self.gallery_model.hit_of(item_id)
        return hit.timestamp if hit else None

    def _current_changed(self, item_id: int | None) -> None:
        hit = self.gallery_model.hit_of(item_id) if item_id is not None else None
        self.details.show_item(item_id, hit.timestamp if hit else None)

    def _worker_event(self, event: CaptionEvent) -> None:
        if isinstance(event, Fatal):
            self.extras.captioning_waits(event)
            if event.library_damaged:  # this process must not write into it either
                self.db.found_damaged(LibraryDamaged(self.db.path, event.error))
            self._waiting_for_model(event.needs_a_model)
        elif isinstance(event, ModelLoaded | Started):
            self._waiting_for_model(False)

    def _waiting_for_model(self, waiting: bool) -> None:
        """Queued items' badges say "Waiting for a model" while there is none."""
        if set_waiting_for_model(waiting):
            self.hub.publish(Changes(all_items=True))

    def _close_for_recovery(self) -> None:
        self.recovery_wanted = True
        self.close()

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
        self.panels.restore(settings)
        self.toolbar.restore(settings)
        view = str(settings.value("window/view", "all"))
        self.sidebar.select_view(view)

    def _save_state(self) -> None:
        settings = self._ui_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("window/splitter", self.splitter.saveState())
        settings.setValue("window/view", self.sidebar.current_selection()[0])
        self.panels.save(settings)
        self.toolbar.save(settings)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.notice.dismiss()
        self._save_state()
        self._stopping.set()
        self.downloads.cancel()
        self._worker.stop(timeout=1.0)
        self._watch.stop(timeout=1.0)
        self.thumbnails.shutdown(500)
        self.activity.shutdown(300)
        self.details.shutdown()
        self.background.wait(1000)
        self.search.close()  # after the pool: no search is asking it any more
        self.downloads.wait(0.5)
        self.db.close()
        super().closeEvent(event)


def _empty_text(listing: Listing, scope: str | None = None) -> str:
    if listing.similar:
        where = f"in {scope}" if scope else "here"
        return (
            f"Nothing {where} is similar in meaning to {listing.similar_name}.\n\n"
            "Try the All view, or Escape to go back."
        )
    if listing.searching:
        where = f"in {scope}" if scope else "here"
        return (
            f"Nothing matches “{listing.text.strip()}” {where}.\n\n"
            "Try fewer or shorter words, a prefix like beac*, OR between words, "
            "or the All view (Escape clears the search)."
        )
    if listing.query.view == "all" and listing.query.root_id is None:
        return "Your library is empty.\n\nAdd a folder of photos or videos to start."
    return "Nothing in this view yet."


def scan_summary(path: str, report: ScanReport) -> str:
    """What a scan found, in words; only what happened (not a row of zeros)."""
    parts = [
        f"{count:,} {word}"
        for count, word in (
            (report.new, "new"),
            (report.returned, "back"),
            (report.changed, "changed"),
            (report.moved, "moved"),
            (report.missing, "missing"),
        )
        if count
    ]
    if report.imported:
        parts.append(f"{counted(report.imported, 'caption')} found in the files")
    if report.errors:
        parts.append(f"{counted(len(report.errors), 'file')} could not be read")
    if not parts:
        known = f" ({counted(report.unchanged, 'item')})" if report.unchanged else ""
        return f"{path}: nothing new; the library was already up to date{known}"
    return f"{path}: " + ", ".join(parts)


def _first_size() -> QSize:
    """The first-run size: 1440x900, or the screen's free area where that is smaller (a
    1280x800 laptop cut off the status bar and the details panel)."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return FIRST_SIZE
    return FIRST_SIZE.boundedTo(screen.availableGeometry().size())
