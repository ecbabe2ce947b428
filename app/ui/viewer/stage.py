"""The gallery's place in the window, holding either the grid or the large view.

`open` (Enter, Space, a double-click) swaps the grid for the loupe on the current item;
the loupe's steps move the grid's current item (so the details panel follows, and Escape
returns to the grid with the last item viewed selected and scrolled to)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QStackedWidget, QWidget

from app.ui.gallery.model import ID_ROLE
from app.ui.gallery.view import GalleryView
from app.ui.viewer.loupe import Loupe, next_row
from app.ui.window.context import WindowContext


class Stage(QStackedWidget):
    def __init__(
        self,
        context: WindowContext,
        gallery: GalleryView,
        moment_of: Callable[[int], float | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self.loupe = Loupe(context)
        self._moment_of = moment_of
        self.addWidget(gallery)
        self.addWidget(self.loupe)
        self.loupe.closed.connect(self.back_to_grid)
        self.loupe.step_requested.connect(self.step)
        # Space on the grid (Enter and a double-click come as the view's activation).
        # Bound to the grid only: Space still types a space in the search and caption boxes.
        self.open_action = QAction("Large view", self)
        self.open_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.open_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.open_action.setToolTip("Show the current item large (Space or Enter; Esc goes back)")
        self.open_action.triggered.connect(self.open)
        gallery.addAction(self.open_action)

    @property
    def in_loupe(self) -> bool:
        return self.currentWidget() is self.loupe

    def open(self) -> bool:
        """The large view of the grid's current item; False if there is none."""
        item_id = self.gallery.current_item()
        if item_id is None:
            return False
        self.loupe.show_item(item_id, self._moment_of(item_id))
        self.setCurrentWidget(self.loupe)
        self.loupe.setFocus()
        return True

    def back_to_grid(self) -> None:
        self.setCurrentWidget(self.gallery)
        self.gallery.setFocus()

    def step(self, step: int) -> None:
        model = self.gallery.model()
        row = next_row(self.gallery.currentIndex().row(), step, model.rowCount())
        if row is None:
            return
        item_id = model.index(row, 0).data(ID_ROLE)
        if item_id is None:  # a page still loading
            return
        self.gallery.select_item(item_id)
        self.loupe.show_item(item_id, self._moment_of(item_id))
