"""The thumbnail grid: a QListView in icon mode over GalleryModel.

Uniform cell sizes let Qt lay out 100,000 cells without asking each one for its
size, and make it paint (and so load) only the visible cells.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from app.services.thumbnails import ThumbnailService
from app.ui.gallery.delegate import GalleryDelegate
from app.ui.gallery.model import ID_ROLE, GalleryModel

MIN_SIDE, MAX_SIDE, DEFAULT_SIDE = 96, 384, 176


class GalleryView(QListView):
    context_menu_requested = Signal(list, QPoint)  # selected item ids, global position
    current_item_changed = Signal(object)  # item id or None
    item_activated = Signal(int)  # double-click / Enter
    escape_pressed = Signal()  # e.g. back from a Find similar listing

    def __init__(
        self, model: GalleryModel, thumbnails: ThumbnailService, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("gallery")
        self.gallery_model = model
        self.setModel(model)
        self.delegate = GalleryDelegate(thumbnails, self)
        self.setItemDelegate(self.delegate)
        self._thumbnails = thumbnails
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        # The columns fill the width exactly (see _relayout), so there is never anything
        # to scroll sideways; the vertical bar stays, so its coming and going cannot
        # change the width and with it the number of columns, back and forth.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.verticalScrollBar().setSingleStep(24)
        self.setMouseTracking(True)
        self.setSpacing(4)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)
        self.doubleClicked.connect(lambda index: self.item_activated.emit(index.data(ID_ROLE)))
        self.activated.connect(lambda index: self.item_activated.emit(index.data(ID_ROLE)))
        self.selectionModel().currentChanged.connect(self._current_changed)
        model.modelReset.connect(lambda: self.current_item_changed.emit(self.current_item()))
        thumbnails.thumbnail_ready.connect(self._thumbnail_ready)
        # After scrolling stops, forget queued thumbnails that scrolled out of view.
        self._visible_timer = QTimer(self, singleShot=True, interval=150)
        self._visible_timer.timeout.connect(self._trim_thumbnail_queue)
        self.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.set_thumbnail_side(DEFAULT_SIDE)

    # -- what the window asks -----------------------------------------------------------
    def set_thumbnail_side(self, side: int) -> None:
        side = max(MIN_SIDE, min(MAX_SIDE, side))
        self.delegate.thumb_side = side
        self._relayout()

    def set_show_captions(self, show: bool) -> None:
        self.delegate.show_captions = show
        self._relayout()

    def selected_ids(self) -> list[int]:
        rows = sorted(index.row() for index in self.selectionModel().selectedIndexes())
        model = self.gallery_model
        return [model.index(r).data(ID_ROLE) for r in rows]

    def current_item(self) -> int | None:
        index = self.currentIndex()
        return index.data(ID_ROLE) if index.isValid() else None

    def select_item(self, item_id: int) -> None:
        index = self.gallery_model.index_of(item_id)
        if index.isValid():
            self.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
            self.scrollTo(index)

    def visible_ids(self) -> set[int]:
        """Ids of the cells that intersect the viewport (cells are uniform, so this
        walks one screenful from the first visible cell)."""
        model = self.gallery_model
        area = self.viewport().rect()
        grid = self.gridSize()
        # Cells sit centred in their (justified) grid columns: probe a column's middle,
        # at the top edge and half a row down (the top row may be scrolled half away).
        probes = [QPoint(grid.width() // 2, y) for y in (2, grid.height() // 2)]
        first = next((i for i in map(self.indexAt, [*probes, area.center()]) if i.isValid()), None)
        if first is None:
            return set()
        columns = max(1, area.width() // max(1, grid.width()))
        ids: set[int] = set()
        row = max(0, first.row() - 2 * columns)
        while row < model.rowCount():
            index = model.index(row)
            rect = self.visualRect(index)
            if rect.top() > area.bottom():
                break
            if rect.intersects(area):
                ids.add(index.data(ID_ROLE))
            row += 1
        return ids

    # -- internals ----------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.escape_pressed.emit()
        super().keyPressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        if self.gridSize().width() != justified_width(self._cell_width(), self._room()):
            self._relayout()

    def _cell_width(self) -> int:
        return self.delegate.cell_size(self.fontMetrics()).width() + 2 * self.spacing()

    def _room(self) -> int:
        return self.viewport().width() - 2  # Qt keeps a pixel each side free of cells

    def _relayout(self) -> None:
        """Justified: as many columns as whole cells fit, each grid column widened so
        they span the full width (the cells sit centred in them), as Lightroom's grid."""
        cell = self.delegate.cell_size(self.fontMetrics())
        width = justified_width(self._cell_width(), self._room())
        self.setGridSize(QSize(width, cell.height() + 2 * self.spacing()))
        self.scheduleDelayedItemsLayout()
        self.viewport().update()

    def _context_menu(self, position: QPoint) -> None:
        index = self.indexAt(position)
        if index.isValid() and not self.selectionModel().isSelected(index):
            self.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
        ids = self.selected_ids()
        if ids:
            self.context_menu_requested.emit(ids, self.viewport().mapToGlobal(position))

    def _current_changed(self, current: object, _previous: object) -> None:
        self.current_item_changed.emit(self.current_item())

    def _thumbnail_ready(self, item_id: int, _image: object) -> None:
        index = self.gallery_model.index_of(item_id)
        if index.isValid():
            self.update(index)

    def _scrolled(self, _value: int) -> None:
        # Not valueChanged -> start directly: the scroll value became the timer's interval
        # (minutes far down a long list), so the queue was never trimmed.
        self._visible_timer.start()

    def _trim_thumbnail_queue(self) -> None:
        self._thumbnails.forget_except(self.visible_ids())


def justified_width(cell: int, room: int) -> int:
    """The grid column width that spreads whole cells across `room` pixels."""
    columns = max(1, room // max(1, cell))
    return max(cell, room // columns)
