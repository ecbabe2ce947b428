"""The details side of the main window: the panel and the undoable edits it shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.ui.details.caption_commands import AcceptCommand, CaptionEdits, RemoveItemsCommand
from app.ui.details.panel import DetailsPanel

if TYPE_CHECKING:
    from app.ui.window.main_window import MainWindow


class DetailsSide:
    """The details panel and the undoable edits it and the item actions share."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.edits = CaptionEdits(window.db, window.background, window)
        self.panel = DetailsPanel(window.db, window.background, self.edits, window.undo_stack)
        self.widget = self.panel
        self.edits.items_changed.connect(window.items_changed)
        self.edits.failed.connect(window.show_error)
        self.panel.message_posted.connect(
            lambda text: window.statusBar().showMessage(text, 8000)
        )
        self._shown: int | None = None

    def show_item(self, item_id: int | None, moment: float | None = None) -> None:
        self._shown = item_id
        self.panel.show_item(item_id, moment)

    def refresh_if_shown(self, item_ids: list[int]) -> None:
        if self._shown is not None and self._shown in item_ids:
            self.panel.refresh()  # keeps what the user is typing

    def accept(self, item_ids: list[int]) -> None:
        self.window.undo_stack.push(AcceptCommand(self.edits, item_ids))

    def remove(self, item_ids: list[int]) -> None:
        self.window.undo_stack.push(RemoveItemsCommand(self.edits, item_ids))

    def edit(self, item_id: int) -> None:
        if self._shown != item_id:
            self.show_item(item_id)
        self.panel.focus_caption()

    def shutdown(self) -> None:
        self.panel.shutdown()
