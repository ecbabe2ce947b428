"""A video's moments as a horizontal strip: keyframe, time and what happens there.

Each moment is a button (mouse, keyboard and screen readers alike); clicking one
says where to play from. The strip can highlight the moment nearest a time, which
is how a search hit on a video opens the details at the matching moment.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QEnterEvent, QImage, QPainter, QPaintEvent, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractButton,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.item_details import Moment
from app.ui.details.text import clock_text

TILE_WIDTH = 132
THUMB_HEIGHT = 74
CAPTION_LINES = 3


class MomentTile(QAbstractButton):
    """One moment: its keyframe, "0:12" and the caption of that moment."""

    def __init__(self, moment: Moment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.moment = moment
        self.setCheckable(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFixedWidth(TILE_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        caption = moment.caption or ""
        self.setToolTip(f"Play from {clock_text(moment.timestamp)}\n{caption}".strip())
        self.setAccessibleName(f"Moment at {clock_text(moment.timestamp)}: {caption}")
        self.thumb = QLabel()
        self.thumb.setFixedSize(TILE_WIDTH - 8, THUMB_HEIGHT)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.time_label = QLabel(clock_text(moment.timestamp))
        bold = self.time_label.font()
        bold.setBold(True)
        self.time_label.setFont(bold)
        self.caption_label = QLabel(self._clipped(caption))
        self.caption_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.caption_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 6)
        layout.setSpacing(3)
        for label in (self.thumb, self.time_label, self.caption_label):
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            layout.addWidget(label)
        layout.addStretch(1)

    def set_image(self, image: QImage | None) -> None:
        if image is None or image.isNull():
            self.thumb.setText("No frame")
            return
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap.fromImage(image).scaled(
            self.thumb.size() * ratio,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        pixmap.setDevicePixelRatio(ratio)
        self.thumb.setPixmap(pixmap)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        layout = self.layout()
        assert layout is not None  # set in __init__
        return QSize(TILE_WIDTH, layout.sizeHint().height())

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802
        palette = self.palette()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect().adjusted(1, 1, -1, -1)
        if self.isChecked():
            painter.setPen(palette.color(QPalette.ColorRole.Highlight))
            painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
        elif self.underMouse() or self.hasFocus():
            painter.setPen(palette.color(QPalette.ColorRole.Mid))
            painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, 6, 6)

    def enterEvent(self, event: QEnterEvent) -> None:  # noqa: N802
        self.update()
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802
        self.update()
        super().leaveEvent(event)

    def _clipped(self, text: str) -> str:
        """At most CAPTION_LINES lines at the tile's width, ending in "…" if cut."""
        metrics = self.fontMetrics()
        width = TILE_WIDTH - 8
        lines: list[str] = []
        line = ""
        for word in text.split():
            trial = f"{line} {word}".strip()
            if line and metrics.horizontalAdvance(trial) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        if line:
            lines.append(line)
        kept = lines[:CAPTION_LINES]
        if len(lines) > CAPTION_LINES:
            kept[-1] += "…"
        elide = Qt.TextElideMode.ElideRight
        return "\n".join(metrics.elidedText(part, elide, width) for part in kept)


class MomentStrip(QScrollArea):
    """The strip; `moment_clicked(seconds)` when the user picks a moment."""

    moment_clicked = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self._row = QWidget()
        self._layout = QHBoxLayout(self._row)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self.setWidget(self._row)
        self._tiles: list[MomentTile] = []

    def tiles(self) -> list[MomentTile]:
        return list(self._tiles)

    def set_moments(self, moments: Sequence[Moment]) -> None:
        for tile in self._tiles:
            tile.hide()
            tile.deleteLater()
        self._tiles = []
        for moment in moments:
            tile = MomentTile(moment, self._row)
            tile.clicked.connect(lambda _checked=False, t=tile: self._clicked(t))
            self._layout.insertWidget(self._layout.count() - 1, tile)
            self._tiles.append(tile)
        height = max((t.sizeHint().height() for t in self._tiles), default=0)
        bar = self.horizontalScrollBar().sizeHint().height()
        self.setFixedHeight(height + bar + 4 if self._tiles else 0)

    def set_images(self, images: Sequence[QImage | None]) -> None:
        for tile, image in zip(self._tiles, images, strict=False):
            tile.set_image(image)

    def select_nearest(self, seconds: float | None) -> MomentTile | None:
        """Highlight the moment closest to `seconds` and scroll it into view."""
        nearest = (
            min(self._tiles, key=lambda t: abs(t.moment.timestamp - seconds))
            if seconds is not None and self._tiles
            else None
        )
        for tile in self._tiles:
            tile.setChecked(tile is nearest)
        if nearest is not None:
            # New tiles get their places when the layout next runs: scroll after that.
            QTimer.singleShot(0, self, lambda: self._reveal(nearest))
        return nearest

    def _reveal(self, tile: MomentTile) -> None:
        if tile in self._tiles:
            self.ensureWidgetVisible(tile, 24, 0)

    def _clicked(self, tile: MomentTile) -> None:
        for other in self._tiles:
            other.setChecked(other is tile)
        self.moment_clicked.emit(tile.moment.timestamp)
