"""The window's menus and the flows around the gallery: settings, first run, and
showing items while a scan runs."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractButton, QMenu, QMessageBox, QWidget

from app import APP_NAME
from app.core.captioning.events import Fatal
from app.core.logs import log_folder
from app.core.model_status import needs_first_run
from app.core.user_errors import waiting_error
from app.services.changes import FOLDERS_CHANGED, Changes
from app.ui.gallery.browser import SEARCH_HELP
from app.ui.window.context import WindowContext

if TYPE_CHECKING:
    from app.ui.activity.panel import ActivityPanel
    from app.ui.export.dialog import ExportDialog
    from app.ui.finetune.launch import FinetuneLauncher
    from app.ui.gallery.browser import Listing
    from app.ui.gallery.item_actions import ItemActions
    from app.ui.gallery.view import GalleryView
    from app.ui.settings.dialog import SettingsDialog
    from app.ui.window.parts import DetailsSide
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
    large_view: QAction  # Space (and Enter) on the gallery: the loupe
    panel_actions: list[QAction]  # the side panels: each, and both
    remove_folder: Callable[[int, QWidget | None], None]  # asks, then removes (undoable)
    details: DetailsSide
    listing: Callable[[], Listing]  # what the gallery was asked to show (view, search)


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
        self.keys_box: QMessageBox | None = None
        self.about_box: QMessageBox | None = None
        self._finetune: FinetuneLauncher | None = None
        self.export_dialog: ExportDialog | None = None

    # -- menus --------------------------------------------------------------------------
    def build_menus(self) -> None:
        w, p = self.context.window, self.parts
        bar = w.menuBar()
        file = bar.addMenu("&File")
        self._add(file, "Add folder…", "Ctrl+Shift+O", p.choose_folder)
        self._add(file, "Settings…", "Ctrl+,", self.open_settings)
        self._add(file, "Fine-tune on my corrections…", "", self.open_finetune)
        self._add(file, "Export captions…", "Ctrl+Shift+E", self.open_export)
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
        items.addActions([p.items.accept, p.items.edit, p.details.panel.editor.save_action])
        items.addActions([p.items.copy, p.items.copy_alt, p.items.write_out])
        items.addSeparator()
        items.addActions([p.items.open, p.items.show_in_folder])
        items.addSeparator()
        items.addAction(p.items.find_similar)
        items.addSeparator()
        items.addAction(p.items.remove)
        for action in p.items.all():  # shortcuts work while the gallery has focus
            p.gallery.addAction(action)

        view = bar.addMenu("&View")
        view.addAction(p.large_view)
        view.addSeparator()
        view.addActions(p.panel_actions)
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
        self._add(help_menu, "Keyboard shortcuts", "Ctrl+/", self.show_keys)
        self._add(help_menu, "Welcome screen…", "", self.open_welcome)
        help_menu.addSeparator()
        self._add(help_menu, "Open log folder", "", self.open_log_folder)
        self._add(help_menu, f"About {APP_NAME}", "", self.show_about)

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

    def shortcuts(self) -> list[tuple[str, str]]:
        """(menu path, keys) of every menu command that has a shortcut, in menu order,
        then the keys that belong to one place (they are not commands of a menu)."""
        found: list[tuple[str, str]] = []

        def walk(menu: QMenu, path: str) -> None:
            for action in menu.actions():
                sub = action.menu()
                if isinstance(sub, QMenu):
                    walk(sub, f"{path} → {_plain(action.text())}")
                elif not action.isSeparator() and not action.shortcut().isEmpty():
                    keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                    text = _plain(action.text())
                    if text.startswith(("Undo ", "Redo ")):  # "Undo Remove folder …"
                        text = text.split(" ", 1)[0]
                    found.append((f"{path} → {text}", keys))

        for top in self.context.window.menuBar().actions():
            sub = top.menu()
            if isinstance(sub, QMenu):
                walk(sub, _plain(top.text()))
        return found + PLACE_KEYS

    def show_keys(self) -> None:
        rows = "".join(
            f"<tr><td>{html.escape(what)}</td><td>&nbsp;&nbsp;<b>{html.escape(keys)}</b></td></tr>"
            for what, keys in self.shortcuts()
        )
        box = QMessageBox(
            QMessageBox.Icon.NoIcon,
            "Keyboard shortcuts",
            f"<table>{rows}</table>",
            QMessageBox.StandardButton.Close,
            self.context.window,
        )
        box.setObjectName("keyboard_shortcuts")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.keys_box = box
        box.open()

    def show_about(self) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Information,
            f"About {APP_NAME}",
            f"<b>{APP_NAME}</b> {html.escape(_version())}",
            QMessageBox.StandardButton.Close,
            self.context.window,
        )
        box.setObjectName("about")
        box.setInformativeText(
            "Captions and tags for your photos and videos, written on this computer by a "
            "local AI model and corrected by you. Nothing leaves the computer.\n\n"
            f"Library: {self.context.data_dir.root}"
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.about_box = box
        box.open()

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

        if self.welcome is not None:  # Help → Welcome screen while it is open
            self.welcome.raise_()
            self.welcome.activateWindow()
            return
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
            dialog.library_page.remove_handler = self.parts.remove_folder
            c.hub.changed.connect(dialog.library_page.apply_changes)
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

    def open_export(self) -> ExportDialog:
        """One export dialog per window, kept between openings: it remembers its last
        summary, and a run goes on while it is hidden."""
        from app.ui.export.dialog import ExportDialog, GalleryScope

        c, p = self.context, self.parts
        dialog = self.export_dialog
        if dialog is None:
            scope = GalleryScope(p.listing, p.gallery.gallery_model.ids, p.gallery.selected_ids)
            dialog = ExportDialog(c.db, c.data_dir, scope, c.background, c.window)
            self.export_dialog = dialog
        elif not dialog.runner.running:
            dialog.refresh_scope()
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def _settings_closed(self) -> None:
        self.settings_dialog = None

    def _settings_changed(self, keys: set[str]) -> None:
        self.context.publish(Changes(settings=frozenset(keys), captioning=True))
        self.load_caption_choices()

    def embedding_installed(self, _model_id: str) -> None:
        """A text-embedding model finished downloading: with the default choice (the
        setting empty), the worker restarts to read the captions with it, whether or not
        Settings is still open."""
        from app.core.settings import Settings

        c = self.context

        def chosen_default() -> bool:
            return Settings(c.db).read().embedding_model == ""

        def read(default: bool) -> None:
            if default:
                c.publish(Changes(settings=frozenset({"embedding_model"})))

        c.background.run(chosen_default, read, lambda _message: None)

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


# Keys that work in one place rather than as menu commands (Help → Keyboard shortcuts).
PLACE_KEYS = [
    ("Search box → Clear the search", "Esc"),
    ("Gallery → Show the item large", "Enter / Space / double-click"),
    ("Large view → Previous, next item", "← / →"),
    ("Large view → Zoom in, out; fit; 100 %", "Wheel, + / −; 0; 1"),
    ("Large view → Play a video; back to the grid", "Space; Esc"),
    ("Gallery → Move between items", "Arrow keys, Home, End, Page Up/Down"),
    ("Gallery → Select several", "Shift+click, Ctrl+click"),
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("captionist")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(development copy)"


def _plain(text: str) -> str:
    """A menu text without its mnemonic "&" and trailing "…"."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…")


def _checkable(parent: QObject, text: str, box: QAbstractButton) -> QAction:
    action = QAction(text, parent)
    action.setCheckable(True)
    action.setChecked(box.isChecked())
    action.toggled.connect(box.setChecked)
    box.toggled.connect(action.setChecked)
    return action
