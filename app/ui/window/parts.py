"""The details side of the main window: the panel and the undoable edits it shares."""

from __future__ import annotations

from app.core.queue_status import QueueActions, RetryResult
from app.services.changes import EDITED, Changes
from app.ui.details.caption_commands import AcceptCommand, CaptionEdits, RemoveItemsCommand
from app.ui.details.panel import DetailsPanel
from app.ui.window.context import WindowContext

MESSAGE_MS = 8000


class DetailsSide:
    """The details panel and the undoable edits it and the item actions share."""

    def __init__(self, context: WindowContext) -> None:
        self._undo_stack = context.undo_stack
        self.edits = CaptionEdits(context.db, context.background, context.window)
        self.panel = DetailsPanel(context.db, context.background, self.edits, context.undo_stack)
        self.widget = self.panel
        # A removal (or its undo) also cancels (or brings back) caption jobs: the
        # activity panel's counts follow the queue.
        self.edits.items_changed.connect(
            lambda ids: context.publish(Changes.of_items(ids, queue=True) | EDITED)
        )
        self.edits.failed.connect(context.show_error)
        self.panel.message_posted.connect(lambda text: context.show_message(text, MESSAGE_MS))
        self.panel.retry_requested.connect(self.retry)
        self._context = context
        self._queue = QueueActions(context.db)
        self._shown: int | None = None

    def show_item(self, item_id: int | None, moment: float | None = None) -> None:
        self._shown = item_id
        self.panel.show_item(item_id, moment)

    def apply_changes(self, changes: Changes) -> None:
        if self._shown is not None and changes.touches_rows([self._shown]):
            self.panel.refresh()  # keeps what the user is typing

    def retry(self, item_id: int) -> None:
        """The notice's Retry: queue the item again, ahead of other work (as the
        activity panel's Retry does), and tell every view."""
        queue, context = self._queue, self._context

        def done(result: RetryResult) -> None:
            changes = Changes.of_items([item_id], counts=True, queue=True)
            context.publish(changes | Changes(listing=True))
            if result.unreadable:
                context.show_message("The file still can't be read", MESSAGE_MS)

        context.background.run(lambda: queue.retry([item_id]), done, context.show_error)

    def accept(self, item_ids: list[int]) -> None:
        self._undo_stack.push(AcceptCommand(self.edits, item_ids))

    def remove(self, item_ids: list[int], name: str | None = None) -> None:
        self._undo_stack.push(RemoveItemsCommand(self.edits, item_ids, name=name))

    def edit(self, item_id: int) -> None:
        if self._shown != item_id:
            self.show_item(item_id)
        self.panel.focus_caption()

    def shutdown(self) -> None:
        self.panel.shutdown()
