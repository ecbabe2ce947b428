"""Opening the fine-tune screen from the window, and keeping its run alive.

The launcher is a child of the main window that owns the `FinetuneBridge` and one screen:
closing the screen with "Keep running" only hides it, and the window's status bar says how
the run ended. Quitting the window cancels a running fine-tune and waits for it to clean up
(a killed job would leave its training child behind).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject

from app.services.changes import Changes
from app.services.finetune_bridge import FinetuneBridge
from app.ui.window.context import WindowContext

if TYPE_CHECKING:
    from app.ui.finetune.dialog import FinetuneDialog

STATUS_MS = 15_000


ADAPTERS_CHANGED = Changes(captioning=True)  # the worker loads the active adapter anew


class FinetuneLauncher(QObject):
    def __init__(self, context: WindowContext) -> None:
        super().__init__(context.window)
        self.setObjectName("finetune_launcher")
        self.context = context
        self.window = context.window
        self.bridge = FinetuneBridge(context.data_dir.root, self)
        self.dialog: FinetuneDialog | None = None
        self.bridge.succeeded.connect(lambda: self._ended("Fine-tune finished."))
        self.bridge.failed.connect(lambda message: self._ended(f"Fine-tune stopped: {message}"))
        self.bridge.cancelled.connect(lambda: self._ended("Fine-tune cancelled; nothing saved."))
        self.bridge.activation_decided.connect(lambda *_: context.publish(ADAPTERS_CHANGED))
        self.window.installEventFilter(self)

    def open(self) -> FinetuneDialog:
        from app.ui.finetune.dialog import FinetuneDialog

        c = self.context
        if self.dialog is None:
            self.dialog = FinetuneDialog(c.db, c.data_dir, self.bridge, c.thumbnails, c.window)
            self.dialog.adapters_changed.connect(lambda: c.publish(ADAPTERS_CHANGED))
        elif not self.dialog.isVisible():
            self.dialog.reload()  # corrections may have been made since
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog

    def _ended(self, text: str) -> None:
        if self.dialog is None or not self.dialog.isVisible():
            self.context.show_message(text, STATUS_MS)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close:
            self.bridge.shutdown()
            if self.dialog is not None:
                self.dialog.plan.installer.shutdown()
        return False
