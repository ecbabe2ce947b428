"""The window's menus and the flows around the gallery: settings, first run, and
showing items while a scan runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractButton, QMenu

from app.core.captioning.events import Fatal
from app.core.logs import log_folder
from app.core.model_status import needs_first_run
from app.core.user_errors import waiting_error
from app.services.changes import FOLDERS_CHANGED, Changes
from app.ui.gallery.browser import SEARCH_HELP
from app.ui.window.context import WindowContext

if TYPE_CHECKING:
    from app.ui.activity.panel import ActivityPanel
    from app.ui.finetune.launch import FinetuneLauncher
    from app.ui.gallery.item_actions import ItemActions
    from app.ui.gallery.view import GalleryView
    from app.ui.settings.dialog import SettingsDialog
    from app.ui.window.toolbar import MainToolbar
    from app.ui.window.welcome import WelcomeDialog

SCAN_POLL_MS = 1000
ZOOM_STEP = 32


@dataclass(frozen=True)
class MenuParts:
    """The window's parts the menus act on."""

    gallery: GalleryView
    items: ItemActions
    toolbar: MainToolbar
    activity: ActivityPanel
    choose_folder: Callable[[], None]
    add_folder: Callable[[str], None]


class WindowExtras:
    """The menus and the flows around the gallery."""

    def __init__(self, context: WindowContext, parts: MenuParts) -> None:
        self.context = context
        self.parts = parts
        self._scan_timer = QTimer(context.window, interval=SCAN_POLL_MS)
        self._scan_timer.timeout.connect(lambda: context.publish(FOLDERS_CHANGED))
        self._scans = 0
        self.settings_dialog: SettingsDialog | None = None
        self.welcome: WelcomeDialog | None = None
        self.no_welcome = False  # tests and benchmarks open the window without it
        self._first_run_checked = False
        self._finetune: FinetuneLauncher | None = None

    # -- menus --------------------------------------------------------------------------
    def build_menus(self) -> None:
        w, p = self.context.window, self.parts
        bar = w.menuBar()
        file = bar.addMenu("&File")
        self._add(file, "Add folder…", "Ctrl+Shift+O", p.choose_folder)
        self._add(file, "Settings…", "Ctrl+,", self.open_settings)
        self._add(file, "Fine-tune on my corrections…", "", self.open_finetune)
        file.addSeparator()
        self._add(file, "Quit", QKeySequence.StandardKey.Quit, w.close)

        edit = bar.addMenu("&Edit")
        undo_stack = self.context.undo_stack
        undo = undo_stack.createUndoAction(w, "Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = undo_stack.createRedoAction(w, "Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        edit.addActions([undo, redo])
        edit.addSeparator()
        self._add(edit, "Find", QKeySequence.StandardKey.Find, self.focus_search)
        self._add(edit, "Select all", QKeySequence.StandardKey.SelectAll, p.gallery.selectAll)

        items = bar.addMenu("&Item")
        items.addAction(p.items.caption)
        items.addMenu(p.items.again_menu)
        items.addSeparator()
        items.addActions([p.items.accept, p.items.edit, p.items.copy, p.items.write_out])
        items.addSeparator()
        items.addActions([p.items.open, p.items.show_in_folder])
        items.addSeparator()
        items.addAction(p.items.remove)
        for action in p.items.all():  # shortcuts work while the gallery has focus
            p.gallery.addAction(action)

        view = bar.addMenu("&View")
        activity = QAction("Activity panel", w)
        activity.setCheckable(True)
        activity.setChecked(True)
        activity.toggled.connect(p.activity.setVisible)
        view.addAction(activity)
        zoom = p.toolbar.zoom
        self._add(
            view,
            "Larger thumbnails",
            QKeySequence.StandardKey.ZoomIn,
            lambda: zoom.setValue(zoom.value() + ZOOM_STEP),
        )
        self._add(
            view,
            "Smaller thumbnails",
            QKeySequence.StandardKey.ZoomOut,
            lambda: zoom.setValue(zoom.value() - ZOOM_STEP),
        )
        view.addAction(_checkable(w, "Show captions", p.toolbar.captions))

        help_menu = bar.addMenu("&Help")
        self._add(help_menu, "Search syntax", "F1", self.show_search_help)
        self._add(help_menu, "Open log folder", "", self.open_log_folder)

    def _add(
        self,
        menu: QMenu,
        text: str,
        shortcut: str | QKeySequence.StandardKey,
        slot: Callable[[], object],
    ) -> QAction:
        action = QAction(text, self.context.window)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def focus_search(self) -> None:
        self.parts.toolbar.search.setFocus()
        self.parts.toolbar.search.selectAll()

    def show_search_help(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.information(self.context.window, "Search syntax", SEARCH_HELP)

    def open_log_folder(self) -> None:
        """The folder of captionist.log (and its rotated copies), in the file manager."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        folder = log_folder(self.context.data_dir.root)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.context.show_error(f"cannot make the log folder {folder} ({exc.strerror})")
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.context.show_message(f"The log folder is {folder}", 15_000)

    # -- flows --------------------------------------------------------------------------
    def after_start(self) -> None:
        """Work done once the window is up: offer choices, maybe the welcome."""
        self.load_caption_choices()

    def load_caption_choices(self) -> None:
        context = self.context
        models_dir = context.data_dir.models

        def load() -> tuple[dict[str, str], dict[str, str]]:
            from models.catalog import load_catalog
            from models.installed import installed_models
            from models.prompts import builtin_prompts

            catalog = load_catalog()
            names = {}
            for model in installed_models(models_dir):
                entry = catalog.get(model.entry_id)
                names[model.entry_id] = entry.name if entry else model.entry_id
            return {p.id: p.name for p in builtin_prompts().values()}, names

        context.background.run(load, lambda r: self.parts.items.set_choices(*r), context.show_error)

    def library_loaded(self, has_folders: bool, items: int) -> None:
        welcome = self.welcome
        if welcome is not None and has_folders:
            if self._scans:
                welcome.set_scan_progress(items)
            else:
                welcome.set_scan_finished(items)
        if self._first_run_checked:
            return
        self._first_run_checked = True
        if not has_folders:
            db = self.context.db
            self.context.background.run(lambda: needs_first_run(db), self._maybe_welcome)

    def _maybe_welcome(self, first_run: bool) -> None:
        if first_run and not self.no_welcome:
            self.open_welcome()

    def open_welcome(self) -> None:
        from app.ui.window.welcome import WelcomeDialog

        c = self.context
        dialog = WelcomeDialog(c.db, c.data_dir, c.downloads, c.window)
        dialog.folder_chosen.connect(self.parts.add_folder)
        dialog.settings_changed.connect(self._settings_changed)
        dialog.finished.connect(self._welcome_closed)
        self.welcome = dialog
        dialog.show()

    def _welcome_closed(self, _result: int) -> None:
        self.welcome = None

    def open_settings(self, page: str | None = None) -> None:
        """One Settings window at a time (it stays connected to the download bridge)."""
        from PySide6.QtCore import Qt

        from app.ui.settings.dialog import SettingsDialog

        c = self.context
        dialog = self.settings_dialog
        if dialog is None:
            dialog = SettingsDialog(c.db, c.data_dir, c.downloads, c.window)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.settings_changed.connect(self._settings_changed)
            dialog.folder_added.connect(self.parts.add_folder)
            dialog.folder_removed.connect(lambda _root: c.publish(FOLDERS_CHANGED))
            dialog.destroyed.connect(self._settings_closed)
            self.settings_dialog = dialog
        if page:
            dialog.show_page(page)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    def finetune_launcher(self) -> FinetuneLauncher:
        """One launcher per window: it keeps a run going while its screen is hidden."""
        if self._finetune is None:
            from app.ui.finetune.launch import FinetuneLauncher

            self._finetune = FinetuneLauncher(self.context)
        return self._finetune

    def open_finetune(self) -> None:
        self.finetune_launcher().open()

    def _settings_closed(self) -> None:
        self.settings_dialog = None

    def _settings_changed(self, keys: set[str]) -> None:
        self.context.publish(Changes(settings=frozenset(keys), captioning=True))
        self.load_caption_choices()

    def poll_while_scanning(self) -> None:
        self._scans += 1
        self._scan_timer.start()

    def scan_finished(self) -> None:
        self._scans = max(0, self._scans - 1)
        if not self._scans:
            self._scan_timer.stop()

    def captioning_waits(self, event: Fatal) -> None:
        """Captioning cannot go on: the activity panel says why, once. The status bar
        says it only while the panel is hidden (View > Activity panel)."""
        if self.parts.activity.isHidden():
            explained = waiting_error(event.error, event.reason)
            self.context.show_message(explained.sentence, 15_000)


def _checkable(parent: QObject, text: str, box: QAbstractButton) -> QAction:
    action = QAction(text, parent)
    action.setCheckable(True)
    action.setChecked(box.isChecked())
    action.toggled.connect(box.setChecked)
    box.toggled.connect(action.setChecked)
    return action
