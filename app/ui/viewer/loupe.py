"""The large view (Lightroom's loupe, Photos' full view): Enter, Space or a double-click
on a thumbnail shows the picture as large as the gallery's place allows, with its caption
under it; Left/Right step through the gallery's order, Escape (or Enter) goes back.

Zoom: the wheel, + and -, 0 fits, 1 is 100 %; drag to pan when zoomed. A video shows its
preview frame with a play button: Space or a click plays it, from the moment a search hit
pointed at, where QtMultimedia is available (app.ui.details.video_player).

The picture is decoded on the background pool at the screen's size (never the GUI
thread); a step to another item while one is loading drops the stale result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from app.core.item_details import ItemDetails
from app.ui.details.loading import default_cache_dir, load_item, load_preview
from app.ui.details.video_player import multimedia_available, play_video
from app.ui.window.context import WindowContext

MIN_ZOOM, MAX_ZOOM = 0.05, 8.0
ZOOM_STEP = 1.25
LOUPE_SIDE = 3072  # sharp full-screen on a 4K panel, a fraction of a 45 MP decode
PLAY_RADIUS = 36
BACKGROUND = QColor(
    24, 24, 26
)  # neutral dark, as photo viewers use: the picture's colours read true
TEXT = QColor(235, 235, 237)
MUTED = QColor(170, 170, 176)  # 7.9:1 on the background


@dataclass(frozen=True, slots=True)
class Shown:
    item_id: int
    details: ItemDetails
    image: QImage


class Loupe(QWidget):
    closed = Signal()
    step_requested = Signal(int)  # -1 previous, +1 next (in the gallery's order)

    def __init__(self, context: WindowContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("loupe")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Large view")
        self._context = context
        self._serial = 0
        self.item_id: int | None = None
        self.moment: float | None = None
        self.shown: Shown | None = None
        self._pixmap: QPixmap | None = None
        self.error: str | None = None
        self.zoom: float | None = None  # None: fit the window
        self._pan = QPointF(0, 0)
        self._drag_from: QPointF | None = None

    # -- what is shown -------------------------------------------------------------------
    def show_item(self, item_id: int, moment: float | None = None) -> None:
        self._serial += 1
        serial = self._serial
        self.item_id, self.moment = item_id, moment
        self.error = None
        self.zoom, self._pan = None, QPointF(0, 0)
        db = self._context.db
        self.update()

        def load() -> Shown | None:
            loaded = load_item(db, item_id)
            if loaded is None:
                return None
            image = load_preview(loaded.details, default_cache_dir(db), LOUPE_SIDE)
            return Shown(item_id, loaded.details, image)

        self._context.background.run(
            load,
            on_done=lambda shown: self._loaded(serial, shown),
            on_error=lambda message: self._failed(serial, message),
        )

    def _loaded(self, serial: int, shown: Shown | None) -> None:
        if serial != self._serial:
            return  # the user has stepped on
        self.shown = shown
        self._pixmap = QPixmap.fromImage(shown.image) if shown else None
        if shown is None:
            self.error = "This item is no longer in the library."
        self.update()

    def _failed(self, serial: int, message: str) -> None:
        if serial == self._serial:
            self.shown, self._pixmap = None, None
            self.error = f"This file cannot be shown: {message}"
            self.update()

    @property
    def is_video(self) -> bool:
        return self.shown is not None and self.shown.details.kind == "video"

    # -- zoom and pan --------------------------------------------------------------------
    def fit_scale(self) -> float:
        if self._pixmap is None or self._pixmap.isNull():
            return 1.0
        area = self._picture_area()
        size = self._pixmap.deviceIndependentSize()
        return min(area.width() / size.width(), area.height() / size.height(), 1.0)

    def scale(self) -> float:
        return self.fit_scale() if self.zoom is None else self.zoom

    def set_zoom(self, zoom: float | None) -> None:
        self.zoom = None if zoom is None else max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        if self.zoom is None:
            self._pan = QPointF(0, 0)
        self.update()

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.scale() * factor)

    # -- events --------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        key = event.key()
        if key in (Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.closed.emit()
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            self.step_requested.emit(-1)
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            self.step_requested.emit(1)
        elif key == Qt.Key.Key_Space:
            if self.is_video:
                self.play()
            else:  # Lightroom's toggle between fit and 100 %
                self.set_zoom(1.0 if self.zoom is None else None)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(ZOOM_STEP)
        elif key == Qt.Key.Key_Minus:
            self.zoom_by(1 / ZOOM_STEP)
        elif key == Qt.Key.Key_0:
            self.set_zoom(None)
        elif key == Qt.Key.Key_1:
            self.set_zoom(1.0)
        else:
            super().keyPressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt override)
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(ZOOM_STEP**steps)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self.is_video and self._play_button_rect().contains(event.position()):
            self.play()
        elif self.zoom is not None:
            self._drag_from = event.position()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._drag_from is not None:
            self._pan += event.position() - self._drag_from
            self._drag_from = event.position()
            self.update()

    def mouseReleaseEvent(self, _event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self._drag_from = None

    def mouseDoubleClickEvent(self, _event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self.closed.emit()

    def play(self) -> None:
        if self.shown is None or not self.is_video:
            return
        if not multimedia_available():
            self.error = "Videos cannot play here (QtMultimedia is missing): use Item → Open."
            self.update()
            return
        play_video(self.shown.details.path, self.moment or 0.0, self)

    # -- painting ------------------------------------------------------------------------
    def _caption_height(self) -> int:
        return 3 * self.fontMetrics().height() + 16

    def _picture_area(self) -> QRectF:
        return QRectF(self.rect()).adjusted(12, 12, -12, -12 - self._caption_height())

    def picture_rect(self) -> QRectF:
        if self._pixmap is None:
            return QRectF()
        size = self._pixmap.deviceIndependentSize() * self.scale()
        area = self._picture_area()
        centre = area.center() + self._pan
        return QRectF(
            centre.x() - size.width() / 2,
            centre.y() - size.height() / 2,
            size.width(),
            size.height(),
        )

    def _play_button_rect(self) -> QRectF:
        centre = self.picture_rect().center()
        return QRectF(
            centre.x() - PLAY_RADIUS, centre.y() - PLAY_RADIUS, 2 * PLAY_RADIUS, 2 * PLAY_RADIUS
        )

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._pixmap is not None and self.shown is not None:
            painter.save()
            painter.setClipRect(self._picture_area().adjusted(-12, -12, 12, 0))
            painter.drawPixmap(self.picture_rect(), self._pixmap, QRectF(self._pixmap.rect()))
            painter.restore()
            if self.is_video:
                _play_button(painter, self._play_button_rect())
            self._paint_caption(painter, self.shown.details)
        else:
            painter.setPen(MUTED)
            text = self.error or "Loading…"
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text
            )
        painter.end()

    def _paint_caption(self, painter: QPainter, details: ItemDetails) -> None:
        band = QRectF(self.rect()).adjusted(24, 0, -24, -8)
        band.setTop(band.bottom() - self._caption_height() + 8)
        current = details.current
        caption = current.text if current is not None else "No caption yet"
        zoom = "fit" if self.zoom is None else f"{round(self.scale() * 100)} %"
        painter.setPen(TEXT)
        metrics = painter.fontMetrics()
        lines = 2
        text = metrics.elidedText(caption, Qt.TextElideMode.ElideRight, int(band.width()) * lines)
        painter.drawText(
            QRectF(band.left(), band.top(), band.width(), metrics.height() * lines),
            Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap,
            text,
        )
        small = QFont(painter.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.9))
        painter.setFont(small)
        painter.setPen(MUTED)
        hint = "←/→ previous/next · wheel or +/− zoom · Esc back to the grid"
        if self.is_video:
            hint = "Space plays · " + hint
        painter.drawText(
            band,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
            f"{details.name} · {zoom} · {hint}",
        )
        if self.error:
            painter.drawText(
                band, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, self.error
            )

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(800, 600)


def _play_button(painter: QPainter, rect: QRectF) -> None:
    """A round translucent button with a triangle: the visible "this plays" affordance."""
    painter.save()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 150))
    painter.drawEllipse(rect)
    painter.setBrush(QColor(255, 255, 255, 235))
    r = rect.width() / 2
    c = rect.center()
    triangle = QPainterPath(QPointF(c.x() - r * 0.3, c.y() - r * 0.45))
    triangle.lineTo(c.x() + r * 0.5, c.y())
    triangle.lineTo(c.x() - r * 0.3, c.y() + r * 0.45)
    triangle.closeSubpath()
    painter.drawPath(triangle)
    painter.restore()


def next_row(current: int, step: int, count: int) -> int | None:
    """The row a step lands on, or None at either end (no wrap: the user sees the end)."""
    target = current + int(math.copysign(1, step))
    return target if 0 <= target < count else None
