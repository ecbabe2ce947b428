"""Paints one gallery cell: the thumbnail, badges and the caption under it.

Painting only reads what is already in memory: the row from the model and the
thumbnail from the service's RAM cache. A missing thumbnail is requested (the
service renders the newest requests first) and a placeholder painted meanwhile.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.core.gallery import GalleryRow
from app.services.thumbnails import ThumbnailService, pixmap_bytes
from app.ui.details.text import clock_text
from app.ui.gallery.model import HIT_ROLE, ID_ROLE, ROW_ROLE, HitInfo
from app.ui.gallery.snippet import Line, Word, lay_out, words_of
from app.ui.words import queued_badge, similar_cell_text

PADDING = 6
# Scaled copies kept: a few screens at the smallest zoom, and never more than this many
# bytes (600 cells at the largest zoom would be ~350 MB).
SCALED_CACHE = 600
SCALED_BYTES = 32 * 1024 * 1024
CAPTION_LINES = 2
WRAPPED_CACHE = 2000  # captions laid out in lines: ~100 bytes each
TEXT_ALIGN = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
BADGE_COLOURS = {
    "user": QColor(46, 160, 67),  # "Me": green
    "model": QColor(88, 101, 242),  # "AI": indigo
    "review": QColor(214, 142, 0),  # AI, needs review: amber
    "error": QColor(218, 54, 51),
    "busy": QColor(0, 122, 204),
}


class GalleryDelegate(QStyledItemDelegate):
    def __init__(self, thumbnails: ThumbnailService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumbnails = thumbnails
        self.thumb_side = 160
        self.show_captions = True
        self._scaled: OrderedDict[int, tuple[tuple[int, int, int], QPixmap]] = OrderedDict()
        self._scaled_bytes = 0
        # Word-wrapping a caption measured every word: a third of a cell's paint. The
        # lines depend only on the text, the width and the font.
        self._wrapped: OrderedDict[tuple[str, int, int, str], list[Placed]] = OrderedDict()
        self._badge_font: tuple[str, QFont, QFontMetrics] | None = None

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return self.cell_size(option.fontMetrics)

    def cell_size(self, metrics: QFontMetrics) -> QSize:
        text_lines = CAPTION_LINES if self.show_captions else 1
        height = self.thumb_side + 2 * PADDING + text_lines * metrics.lineSpacing() + 4
        return QSize(self.thumb_side + 2 * PADDING, height)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        row: GalleryRow | None = index.data(ROW_ROLE)
        item_id: int = index.data(ID_ROLE)
        hit: HitInfo | None = index.data(HIT_ROLE)
        palette = option.palette
        cell = option.rect
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(QRectF(cell.adjusted(1, 1, -1, -1)), 8, 8)
        elif option.state & QStyle.StateFlag.State_MouseOver:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Midlight))
            painter.drawRoundedRect(QRectF(cell.adjusted(1, 1, -1, -1)), 8, 8)

        side = self.thumb_side
        frame = QRect(cell.x() + PADDING, cell.y() + PADDING, side, side)
        picture = self._paint_thumbnail(painter, frame, item_id, row, palette)
        if row is not None:
            self._paint_badges(painter, picture, row, hit)
        text_rect = QRect(
            frame.left(), frame.bottom() + 4, side, cell.bottom() - frame.bottom() - 4
        )
        self._paint_text(painter, text_rect, row, hit, palette, selected)
        painter.restore()

    # -- parts --------------------------------------------------------------------------
    def _scaled_thumbnail(self, item_id: int, row: GalleryRow, size: QSize) -> QPixmap | None:
        """The thumbnail scaled to the cell once, not on every paint: scaling ~40
        pixmaps per scroll step was most of a repaint's cost."""
        key = (row.mtime_ns, size.width(), size.height())
        hit = self._scaled.get(item_id)
        if hit is not None and hit[0] == key:
            self._scaled.move_to_end(item_id)
            return hit[1]
        pixmap = self._thumbnails.cached(item_id, row.mtime_ns)
        if pixmap is None:
            return None
        scaled = pixmap.scaled(
            size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self._forget_scaled(item_id)
        self._scaled[item_id] = (key, scaled)
        self._scaled_bytes += pixmap_bytes(scaled)
        while len(self._scaled) > 1 and (
            len(self._scaled) > SCALED_CACHE or self._scaled_bytes > SCALED_BYTES
        ):
            self._forget_scaled(next(iter(self._scaled)))  # least recently used
        return scaled

    def _forget_scaled(self, item_id: int) -> None:
        entry = self._scaled.pop(item_id, None)
        if entry is not None:
            self._scaled_bytes -= pixmap_bytes(entry[1])

    def scaled_cache_size(self) -> tuple[int, int]:
        """(scaled copies kept, their bytes): for tests and the benchmark."""
        return len(self._scaled), self._scaled_bytes

    def _paint_thumbnail(
        self,
        painter: QPainter,
        frame: QRect,
        item_id: int,
        row: GalleryRow | None,
        palette: QPalette,
    ) -> QRect:
        """Draws the thumbnail (or a placeholder) and returns where it went."""
        pixmap = self._scaled_thumbnail(item_id, row, frame.size()) if row else None
        if pixmap is None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
            painter.drawRoundedRect(QRectF(frame), 6, 6)
            if row is None:
                return frame
            failed = row.state == "error" or self._thumbnails.failure(item_id, row.mtime_ns)
            if failed:
                painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
                painter.drawText(frame, Qt.AlignmentFlag.AlignCenter, "No preview")
            else:
                self._thumbnails.request(item_id, row.path, row.mtime_ns, row.size, row.kind)
            return frame
        target = QRect(0, 0, pixmap.width(), pixmap.height())
        target.moveCenter(frame.center())
        clip = QPainterPath()
        clip.addRoundedRect(QRectF(target), 6, 6)
        painter.save()
        painter.setClipPath(clip)
        painter.drawPixmap(target, pixmap)
        painter.restore()
        return target

    def _paint_badges(
        self, painter: QPainter, frame: QRect, row: GalleryRow, hit: HitInfo | None
    ) -> None:
        font, metrics = self._badge_font_for(painter.font())
        painter.setFont(font)
        top = frame.top() + 4
        if row.kind == "video":
            moment = hit.timestamp if hit and hit.timestamp is not None else None
            at = moment if moment is not None else row.duration
            label = f"▶ {clock_text(at)}" if at is not None else "▶"
            _pill(painter, metrics, frame.left() + 4, top, label, QColor(0, 0, 0, 170))
        badge = caption_badge(row)
        if badge is not None:
            _pill_right(painter, metrics, frame.right() - 4, top, *badge)
        status = _status(row)
        if status:
            text, colour = status
            bottom = frame.bottom() - metrics.height() - 6
            _pill(painter, metrics, frame.left() + 4, bottom, text, colour)

    def _badge_font_for(self, base: QFont) -> tuple[QFont, QFontMetrics]:
        key = base.key()
        if self._badge_font is None or self._badge_font[0] != key:
            font = QFont(base)
            font.setPointSizeF(max(7.0, font.pointSizeF() * 0.8))
            font.setBold(True)
            self._badge_font = (key, font, QFontMetrics(font))
        return self._badge_font[1], self._badge_font[2]

    def _lines(self, text: str, painter: QPainter, width: int, lines: int) -> list[Placed]:
        """The text in at most `lines` lines, a search match kept in sight, each word
        measured, elided and placed once (cached: measuring every word was a third of a
        cell's paint; the layout depends only on the text, the width and the font)."""
        key = (text, width, lines, painter.font().key())
        laid = self._wrapped.get(key)
        if laid is None:
            plain, bold = painter.fontMetrics(), QFontMetrics(_bold(painter.font()))

            def measure(word: Word) -> int:
                return (bold if word.marked else plain).horizontalAdvance(word.text)

            space = plain.horizontalAdvance(" ")
            wrapped = lay_out(words_of(text), measure, space, width, lines)
            laid = [_place(line, measure, plain, bold, space, width) for line in wrapped]
            self._wrapped[key] = laid
            if len(self._wrapped) > WRAPPED_CACHE:
                self._wrapped.popitem(last=False)
        else:
            self._wrapped.move_to_end(key)
        return laid

    def _paint_text(
        self,
        painter: QPainter,
        rect: QRect,
        row: GalleryRow | None,
        hit: HitInfo | None,
        palette: QPalette,
        selected: bool,
    ) -> None:
        parent = self.parent()
        painter.setFont(QFont(parent.font()) if isinstance(parent, QWidget) else painter.font())
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(palette.color(role))
        if row is None:
            return
        if self.show_captions:
            text = _hit_text(hit) or row.caption or row.name
            if not row.caption and not selected:
                painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        else:
            text = row.name
        lines = self._lines(text, painter, rect.width(), CAPTION_LINES if self.show_captions else 1)
        _paint_lines(painter, rect, lines, palette, selected)


def _hit_text(hit: HitInfo | None) -> str:
    """A keyword hit's snippet (its words marked); a hit by meaning only, "≈" and the
    caption or moment that matched."""
    if hit is None or not hit.snippet:
        return ""
    return similar_cell_text(hit.snippet) if hit.by_meaning_only else hit.snippet


def caption_badge(row: GalleryRow) -> tuple[str, QColor] | None:
    """A glyph as well as a colour (the state must not rest on colour alone): ✎ your own
    words, ? the AI's caption waiting for review, ✓ the AI's caption reviewed. The
    tooltip says it in words (app.ui.gallery.model.badge_meaning)."""
    if row.source == "user":
        return "✎ Me", BADGE_COLOURS["user"]
    if row.source == "model":
        if row.needs_review:
            return "AI ?", BADGE_COLOURS["review"]
        return "AI ✓", BADGE_COLOURS["model"]
    return None


def _status(row: GalleryRow) -> tuple[str, QColor] | None:
    if row.state == "error":
        return "Unreadable", BADGE_COLOURS["error"]
    if row.job == "running":
        return "Captioning…", BADGE_COLOURS["busy"]
    if row.job == "queued":
        return queued_badge(), QColor(90, 90, 90, 200)
    if row.job == "failed":
        return "Failed", BADGE_COLOURS["error"]
    return None


def _pill(
    painter: QPainter, metrics: QFontMetrics, x: int, y: int, text: str, colour: QColor
) -> None:
    width = metrics.horizontalAdvance(text) + 10
    rect = QRect(x, y, width, metrics.height() + 2)
    # A thin white edge keeps the pill apart from a photo or a selection of its colour.
    painter.setPen(QPen(QColor(255, 255, 255, 200), 1))
    painter.setBrush(colour)
    painter.drawRoundedRect(QRectF(rect), rect.height() / 2, rect.height() / 2)
    painter.setPen(QColor("white"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def _pill_right(
    painter: QPainter, metrics: QFontMetrics, right: int, y: int, text: str, colour: QColor
) -> None:
    _pill(painter, metrics, right - metrics.horizontalAdvance(text) - 10, y, text, colour)


def _bold(font: QFont) -> QFont:
    bold = QFont(font)
    bold.setBold(True)
    return bold


# A laid-out line: (text to draw, marked, x from the rect's left, width) per word.
Placed = tuple[tuple[str, bool, int, int], ...]


def _place(
    line: Line,
    measure: Callable[[Word], int],
    plain: QFontMetrics,
    bold: QFontMetrics,
    space: int,
    width: int,
) -> Placed:
    """Centre a line in `width` and elide a word wider than the cell."""
    widths = [min(measure(w), width) for w in line]
    total = min(width, sum(widths) + space * (len(line) - 1))
    x = (width - total) // 2
    placed = []
    for word, word_width in zip(line, widths, strict=True):
        metrics = bold if word.marked else plain
        text = metrics.elidedText(word.text, Qt.TextElideMode.ElideRight, width)
        placed.append((text, word.marked, x, word_width))
        x += word_width + space
    return tuple(placed)


def _paint_lines(
    painter: QPainter, rect: QRect, lines: list[Placed], palette: QPalette, selected: bool
) -> None:
    """The laid-out lines; a search match bold on a tint of the highlight."""
    plain_font = painter.font()
    bold_font = _bold(plain_font)
    step = painter.fontMetrics().lineSpacing()
    pen = painter.pen()
    tint = QColor(palette.color(QPalette.ColorRole.Highlight))
    tint.setAlpha(70 if not selected else 0)
    y = rect.top()
    for line in lines:
        for text, marked, x, width in line:
            box = QRect(rect.left() + x, y, width, step)
            if marked:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(tint)
                painter.drawRoundedRect(QRectF(box.adjusted(-2, 0, 2, 0)), 3, 3)
                painter.setFont(bold_font)
            painter.setPen(pen)
            painter.drawText(box, TEXT_ALIGN, text)
            painter.setFont(plain_font)
        y += step
