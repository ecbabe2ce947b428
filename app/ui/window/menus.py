"""The window's menus and the flows around the gallery: settings, first run, and
showing items while a scan runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from app.core.model_status import needs_first_run
from app.ui.gallery.browser import SEARCH_HELP

if TYPE_CHECKING:
    from app.ui.settings.dialog import SettingsDialog
    from app.ui.window.main_window import MainWindow
    from app.ui.window.welcome import WelcomeDialog

SCAN_POLL_MS = 1000


class WindowExtras:
    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self._scan_timer = QTimer(window, interval=SCAN_POLL_MS)
        self._scan_timer.timeout.connect(window.refresh)
        self._scans = 0
        self.settings_dialog: SettingsDialog | None = None
        self.welcome: WelcomeDialog | None = None
        self._first_run_checked = False

    # -- menus --------------------------------------------------------------------------
    def build_menus(self) -> None:
        w = self.w
        bar = w.menuBar()
        file = bar.addMenu("&File")
        self._add(file, "Add folder…", "Ctrl+Shift+O", w.choose_folder)
        self._add(file, "Settings…", "Ctrl+,", self.open_settings)
        self._add(file, "Fine-tune on my corrections…", "", self.open_finetune)
        file.addSeparator()
        self._add(file, "Quit", QKeySequence.StandardKey.Quit, w.close)

        edit = bar.addMenu("&Edit")
        undo = w.undo_stack.createUndoAction(w, "Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = w.undo_stack.createRedoAction(w, "Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        edit.addActions([undo, redo])
        edit.addSeparator()
        self._add(edit, "Find", QKeySequence.StandardKey.Find, self.focus_search)
        self._add(edit, "Select all", QKeySequence.StandardKey.SelectAll, w.gallery.selectAll)

        items = bar.addMenu("&Item")
        items.addAction(w.items.caption)
        items.addMenu(w.items.again_menu)
        items.addSeparator()
        items.addActions([w.items.accept, w.items.edit, w.items.copy, w.items.write_out])
        items.addSeparator()
        items.addActions([w.items.open, w.items.show_in_folder])
        items.addSeparator()
        items.addAction(w.items.remove)
        for action in w.items.all():  # shortcuts work while the gallery has focus
            w.gallery.addAction(action)

        view = bar.addMenu("&View")
        activity = QAction("Activity panel", w)
        activity.setCheckable(True)
        activity.setChecked(True)
        activity.toggled.connect(w.activity.setVisible)
        view.addAction(activity)
        self._add(view, "Larger thumbnails", QKeySequence.StandardKey.ZoomIn,
                  lambda: w.toolbar.zoom.setValue(w.toolbar.zoom.value() + 32))
        self._add(view, "Smaller thumbnails", QKeySequence.StandardKey.ZoomOut,
                  lambda: w.toolbar.zoom.setValue(w.toolbar.zoom.value() - 32))
        view.addAction(_checkable(w, "Show captions", w.toolbar.captions))

        help_menu = bar.addMenu("&Help")
        self._add(help_menu, "Search syntax", "F1", self.show_search_help)

    def _add(
        self,
        menu: QMenu,
        text: str,
        shortcut: str | QKeySequence.StandardKey,
        slot: Callable[[], object],
    ) -> QAction:
        action = QAction(text, self.w)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def focus_search(self) -> None:
        self.w.toolbar.search.setFocus()
        self.w.toolbar.search.selectAll()

    def show_search_help(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.information(self.w, "Search syntax", SEARCH_HELP)

    # -- flows --------------------------------------------------------------------------
    def after_start(self) -> None:
        """Work done once the window is up: offer choices, maybe the welcome."""
        self.load_caption_choices()

    def load_caption_choices(self) -> None:
        w = self.w
        models_dir = w.data_dir.models

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

        w.background.run(load, lambda r: w.items.set_choices(*r), w.show_error)

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
            db = self.w.db
            self.w.background.run(lambda: needs_first_run(db), self._maybe_welcome)

    def _maybe_welcome(self, first_run: bool) -> None:
        if first_run and not getattr(self.w, "no_welcome", False):
            self.open_welcome()

    def open_welcome(self) -> None:
        from app.ui.window.welcome import WelcomeDialog

        w = self.w
        dialog = WelcomeDialog(w.db, w.data_dir, w.downloads, w)
        dialog.folder_chosen.connect(w.add_folder)
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

        w = self.w
        dialog = self.settings_dialog
        if dialog is None:
            dialog = SettingsDialog(w.db, w.data_dir, w.downloads, w)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.settings_changed.connect(self._settings_changed)
            dialog.folder_added.connect(w.add_folder)
            dialog.folder_removed.connect(lambda _root: w.refresh())
            dialog.destroyed.connect(self._settings_closed)
            self.settings_dialog = dialog
        if page:
            dialog.show_page(page)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    def open_finetune(self) -> None:
        from app.ui.finetune.launch import FinetuneLauncher

        FinetuneLauncher.for_window(self.w).open()

    def _settings_closed(self) -> None:
        self.settings_dialog = None

    def _settings_changed(self, _keys: set[str]) -> None:
        self.w.nudge_worker()
        self.load_caption_choices()

    def poll_while_scanning(self) -> None:
        self._scans += 1
        self._scan_timer.start()

    def scan_finished(self) -> None:
        self._scans = max(0, self._scans - 1)
        if not self._scans:
            self._scan_timer.stop()

    def captioning_waits(self, reason: str) -> None:
        """No usable model: the activity panel says why; the status bar too."""
        self.w.statusBar().showMessage(f"Captioning waits: {reason}", 15_000)


def _checkable(window: MainWindow, text: str, box: object) -> QAction:
    action = QAction(text, window)
    action.setCheckable(True)
    action.setChecked(box.isChecked())  # type: ignore[attr-defined]
    action.toggled.connect(box.setChecked)  # type: ignore[attr-defined]
    box.toggled.connect(action.setChecked)  # type: ignore[attr-defined]
    return action
