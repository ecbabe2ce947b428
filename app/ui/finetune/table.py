"""The corrections table of the fine-tune screen: thumbnail, the model's caption, the
user's caption, date, Include, and what the row is used for; and below it the selected
correction's two captions with the words that differ highlighted (`ChangesPane`).

The model holds the rows the screen loaded on the background pool; it never reads the disk
or the database. Thumbnails come from the shared `ThumbnailService` (RAM cache hit while
painting, else a request whose answer repaints the row). Unticking Include changes the row
at once and asks the screen to store it (`exclusion_requested`); the screen reloads after
the write, since the held-out split is drawn over the included items.
"""

from __future__ import annotations

import dataclasses
import html
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHeaderView,
    QLabel,
    QTableView,
    QWidget,
)

from app.core.finetune.corrections import TrainingCorrection
from app.core.media.thumbnails import Kind
from app.services.thumbnails import ThumbnailService
from app.ui.details.text import clock_text, date_text
from app.ui.finetune.words import change_summary, diff_html
from app.ui.theme import tone

COLUMNS = ("Include", "", "Model's caption", "Your caption", "Corrected", "Used for")
INCLUDE, THUMB, MODEL, USER, DATE, USE = range(len(COLUMNS))
THUMB_SIDE = 64
ROW_HEIGHT = THUMB_SIDE + 10
Index = QModelIndex | QPersistentModelIndex


def use_text(row: TrainingCorrection) -> str:
    if row.excluded:
        return "Excluded"
    return "Held out (scoring)" if row.heldout else "Training"


class CorrectionsModel(QAbstractTableModel):
    exclusion_requested = Signal(object, bool)  # TrainingCorrection, excluded

    def __init__(self, thumbnails: ThumbnailService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[TrainingCorrection] = []
        self._thumbnails = thumbnails
        self._scaled: dict[tuple[int, int], QPixmap] = {}  # (item, mtime) -> 64 px pixmap
        self._muted = QColor(140, 140, 146)
        self._held_out = tone("info")
        thumbnails.thumbnail_ready.connect(self._thumbnail_ready)

    def set_muted_colour(self, colour: QColor) -> None:
        self._muted = colour

    def set_held_out_colour(self, colour: QColor) -> None:
        self._held_out = colour

    # -- rows ---------------------------------------------------------------------------
    def set_rows(self, rows: list[TrainingCorrection]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[TrainingCorrection]:
        return list(self._rows)

    def row_at(self, row: int) -> TrainingCorrection:
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == INCLUDE:
            return base | Qt.ItemFlag.ItemIsUserCheckable
        return base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row, column = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.CheckStateRole and column == INCLUDE:
            return Qt.CheckState.Unchecked if row.excluded else Qt.CheckState.Checked
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == Qt.ItemDataRole.DecorationRole and column == THUMB:
            return self._thumbnail(row)
        if role == Qt.ItemDataRole.ForegroundRole:
            if row.excluded:
                return self._muted
            if column == USE and row.heldout:
                return self._held_out
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (DATE, USE):
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.SizeHintRole and column == THUMB:
            return QSize(THUMB_SIDE + 8, ROW_HEIGHT)
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != INCLUDE:
            return False
        checked = Qt.CheckState(value) == Qt.CheckState.Checked if value is not None else False
        row = self._rows[index.row()]
        if row.excluded == (not checked):
            return False
        changed = dataclasses.replace(row, excluded=not checked, heldout=False)
        self._rows[index.row()] = changed
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), USE))
        self.exclusion_requested.emit(changed, not checked)
        return True

    # -- parts --------------------------------------------------------------------------
    def _display(self, row: TrainingCorrection, column: int) -> str | None:
        if column == MODEL:
            return row.model_caption
        if column == USER:
            return row.user_caption
        if column == DATE:
            return date_text(row.corrected_at)
        if column == USE:
            return use_text(row)
        return None

    def _tooltip(self, row: TrainingCorrection, column: int) -> str | None:
        where = row.path + (
            f" (moment at {clock_text(row.timestamp)})" if row.timestamp is not None else ""
        )
        if column == MODEL:
            return _with_tags(row.model_caption, row.model_tags)
        if column == USER:
            return _with_tags(row.user_caption, row.user_tags)
        if column == USE:
            if row.excluded:
                return "Left out of fine-tuning (tick Include to use it again)"
            if row.heldout:
                return "Not trained on: used to score the model before and after"
            return "The model learns from this correction"
        if column == INCLUDE:
            return "Untick to leave this correction out of fine-tuning"
        return where

    def _thumbnail(self, row: TrainingCorrection) -> QPixmap | None:
        key = (row.item_id, row.mtime_ns)
        scaled = self._scaled.get(key)
        if scaled is not None:
            return scaled
        pixmap = self._thumbnails.cached(row.item_id, row.mtime_ns)
        if pixmap is None:
            kind: Kind = "video" if row.kind == "video" else "photo"
            self._thumbnails.request(row.item_id, row.path, row.mtime_ns, row.size, kind)
            return None
        scaled = pixmap.scaled(
            THUMB_SIDE,
            THUMB_SIDE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self._scaled[key] = scaled
        return scaled

    def _thumbnail_ready(self, item_id: int, _image: QImage) -> None:
        for number, row in enumerate(self._rows):
            if row.item_id == item_id:
                index = self.index(number, THUMB)
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


def _with_tags(caption: str, tags: tuple[str, ...]) -> str:
    return caption + (f"\n\nTags: {', '.join(tags)}" if tags else "")


def corrections_view(model: CorrectionsModel, parent: QWidget | None = None) -> QTableView:
    """The table, laid out: fixed narrow columns, the two captions sharing the rest."""
    view = QTableView(parent)
    view.setObjectName("corrections_table")
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setWordWrap(True)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
    view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    header = view.horizontalHeader()
    header.setHighlightSections(False)
    for column, mode in (
        (INCLUDE, QHeaderView.ResizeMode.ResizeToContents),
        (THUMB, QHeaderView.ResizeMode.Fixed),
        (MODEL, QHeaderView.ResizeMode.Stretch),
        (USER, QHeaderView.ResizeMode.Stretch),
        (DATE, QHeaderView.ResizeMode.ResizeToContents),
        (USE, QHeaderView.ResizeMode.ResizeToContents),
    ):
        header.setSectionResizeMode(column, mode)
    header.resizeSection(THUMB, THUMB_SIDE + 12)
    model.set_muted_colour(view.palette().color(QPalette.ColorRole.PlaceholderText))
    model.set_held_out_colour(tone("info", view.palette()))
    return view


PICK_TEXT = "Select a correction to see the words you changed."


class ChangesPane(QLabel):
    """Below the table: the selected correction's two captions, the words the user removed
    struck through in the model's, the words they added in bold in theirs. Computed for the
    one row shown, so a table of thousands stays as fast as before."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("changes_pane")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMargin(8)
        self._row: TrainingCorrection | None = None
        self.show_row(None)

    def row(self) -> TrainingCorrection | None:
        return self._row

    def show_row(self, row: TrainingCorrection | None) -> None:
        self._row = row
        if row is None:
            self.setText(html.escape(PICK_TEXT))
            return
        pal = self.palette()
        model, user = diff_html(
            row.model_caption,
            row.user_caption,
            removed=tone("error", pal).name(),
            added=tone("ok", pal).name(),
        )
        summary = html.escape(change_summary(row.model_caption, row.user_caption))
        self.setText(
            f"<b>What you changed:</b> {summary}"
            f"<br><br><b>Model's caption:</b> {model or '<i>(empty)</i>'}"
            f"<br><b>Your caption:</b> {user or '<i>(empty)</i>'}"
        )

    def changeEvent(self, event: QEvent) -> None:  # the theme changed: its colours too
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._row is not None:
            self.show_row(self._row)
