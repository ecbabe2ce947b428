"""What the window's parts share, handed to each of them instead of the window.

A part (the details side, the menus and flows, the hand-over, the fine-tune launcher)
gets the library, the services and the change hub it needs from here; it publishes what
it changed on the hub and never calls back up into `MainWindow`, so nothing imports the
window but the application that opens it.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QMainWindow

from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.storage.db import Database
from app.services.background import Background
from app.services.changes import ChangeHub, Changes
from app.services.download_bridge import DownloadBridge
from app.services.search_service import SearchService
from app.services.thumbnails import ThumbnailService

ERROR_MS = 15_000


@dataclass(frozen=True)
class WindowContext:
    window: QMainWindow  # parent of dialogs; its status bar shows messages
    data_dir: DataDir
    db: Database
    library: Library
    background: Background
    thumbnails: ThumbnailService
    downloads: DownloadBridge
    undo_stack: QUndoStack
    hub: ChangeHub
    search: SearchService  # the window's Finder (keyword + meaning) and query process

    def publish(self, changes: Changes) -> None:
        self.hub.publish(changes)

    def show_message(self, text: str, msecs: int = 0) -> None:
        self.window.statusBar().showMessage(text, msecs)

    def show_error(self, message: str) -> None:
        self.show_message(f"Something went wrong: {message}", ERROR_MS)
