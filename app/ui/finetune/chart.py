"""The live loss curve of a fine-tune: a small QPainter plot.

A plain painter widget rather than pyqtgraph: pyqtgraph works with PySide6 (also offscreen),
but its import costs ~0.7 s on the GUI thread the first time the screen opens, it brings two
more packages into every install and bundle, and its black default canvas needs restyling to
match the palette. One line over a few hundred steps needs none of that: this draws the
losses, epoch boundaries and a few rounded ticks, all in the palette's colours (so it
follows the dark theme). The loss of each step is drawn as it is; a long run (noisy at batch
size 1) also gets a dashed moving-average trend.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

SMOOTHING = 0.9  # exponential moving average weight of the previous smoothed value
SMOOTH_FROM = 100  # steps: a noisy long run also gets a dashed trend line
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 46, 14, 22, 26


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-6:
        ticks.append(round(value, 10))
        value += step
    return ticks


def y_range(losses: list[float]) -> tuple[float, float]:
    """The loss axis: from zero while the loss falls a good part of the way there, else
    zoomed on the band the loss moves in (a loss going from 6.7 to 5.9 would otherwise be
    a flat line at the top of an empty plot)."""
    low, high = min(losses), max(losses)
    if low <= 0 or low < 0.5 * high:
        return 0.0, high * 1.05
    pad = max((high - low) * 0.15, high * 0.02)
    ticks = nice_ticks(low - pad, high + pad)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else pad
    floor = math.floor((low - pad) / step) * step if step > 0 else low - pad
    return max(0.0, round(floor, 10)), high + pad


def smoothed(values: list[float], weight: float = SMOOTHING) -> list[float]:
    """TensorBoard-style EMA, debiased so the start is not dragged towards zero."""
    out: list[float] = []
    average, norm = 0.0, 0.0
    for value in values:
        average = weight * average + (1 - weight) * value
        norm = weight * norm + (1 - weight)
        out.append(average / norm)
    return out


class LossCurve(QWidget):
    """Loss per training step; `add_point` as steps arrive, `clear` for a new run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._steps: list[int] = []
        self._losses: list[float] = []
        self._total_steps = 0
        self._epochs = 0
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Training loss curve")

    # -- data ---------------------------------------------------------------------------
    def clear(self) -> None:
        self._steps, self._losses = [], []
        self._total_steps = self._epochs = 0
        self.update()

    def add_point(self, step: int, loss: float, total_steps: int = 0, epochs: int = 0) -> None:
        if not math.isfinite(loss):
            return  # a NaN step would flatten the whole plot; the label still shows it
        self._steps.append(step)
        self._losses.append(loss)
        self._total_steps = max(self._total_steps, total_steps, step)
        self._epochs = epochs or self._epochs
        self.update()

    def points(self) -> list[tuple[int, float]]:
        return list(zip(self._steps, self._losses, strict=True))

    def sizeHint(self) -> QSize:
        return QSize(420, 180)

    # -- painting -----------------------------------------------------------------------
    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        grid = palette.color(QPalette.ColorRole.Mid)
        line = palette.color(QPalette.ColorRole.Highlight)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        plot = QRectF(
            MARGIN_LEFT,
            MARGIN_TOP,
            max(10, self.width() - MARGIN_LEFT - MARGIN_RIGHT),
            max(10, self.height() - MARGIN_TOP - MARGIN_BOTTOM),
        )
        if not self._losses:
            painter.setPen(muted)
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter, "The loss appears here as it trains"
            )
            return
        x_max = float(max(self._total_steps, self._steps[-1], 1))
        y_low, y_high = y_range(self._losses)
        y_ticks = nice_ticks(y_low, y_high)
        if y_ticks:
            y_high = max(y_high, y_ticks[-1])

        def at(step: float, loss: float) -> QPointF:
            x = plot.left() + plot.width() * (step / x_max)
            y = plot.bottom() - plot.height() * ((loss - y_low) / max(1e-9, y_high - y_low))
            return QPointF(x, y)

        small = painter.font()
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        painter.setFont(small)
        self._draw_axes(painter, plot, y_ticks, x_max, at, grid, muted)
        self._draw_epochs(painter, plot, x_max, grid, muted)
        path = QPainterPath(at(self._steps[0], self._losses[0]))
        for step, loss in zip(self._steps[1:], self._losses[1:], strict=True):
            path.lineTo(at(step, loss))
        fill = QPainterPath(path)
        fill.lineTo(at(self._steps[-1], y_low))
        fill.lineTo(at(self._steps[0], y_low))
        fill.closeSubpath()
        shade = QColor(line)
        shade.setAlpha(40)
        painter.fillPath(fill, shade)
        painter.setPen(QPen(line, 2.0))
        painter.drawPath(path)
        if len(self._losses) >= SMOOTH_FROM:
            trend = QColor(text)
            trend.setAlpha(150)
            smooth = smoothed(self._losses)
            average = QPainterPath(at(self._steps[0], smooth[0]))
            for step, loss in zip(self._steps[1:], smooth[1:], strict=True):
                average.lineTo(at(step, loss))
            painter.setPen(QPen(trend, 1.2, Qt.PenStyle.DashLine))
            painter.drawPath(average)
        painter.setBrush(line)
        painter.drawEllipse(at(self._steps[-1], self._losses[-1]), 3.2, 3.2)
        painter.setPen(text)
        painter.drawText(
            QRectF(plot.left(), 2, plot.width(), MARGIN_TOP - 4),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
            f"loss {self._losses[-1]:.3f}",
        )

    def _draw_axes(
        self,
        painter: QPainter,
        plot: QRectF,
        y_ticks: list[float],
        x_max: float,
        at: Callable[[float, float], QPointF],
        grid: QColor,
        muted: QColor,
    ) -> None:
        painter.setPen(QPen(grid, 1))
        for tick in y_ticks:
            y = at(0, tick).y()
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        painter.setPen(muted)
        for tick in y_ticks:
            y = at(0, tick).y()
            painter.drawText(
                QRectF(0, y - 8, MARGIN_LEFT - 6, 16),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{tick:g}",
            )
        for tick in nice_ticks(0, x_max, 5):
            if tick != int(tick):
                continue
            x = at(tick, 0).x()
            box = QRectF(x - 30, plot.bottom() + 4, 60, 16)
            painter.drawText(box, Qt.AlignmentFlag.AlignHCenter, f"{tick:g}")
        painter.setPen(QPen(grid, 1))
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())

    def _draw_epochs(
        self, painter: QPainter, plot: QRectF, x_max: float, grid: QColor, muted: QColor
    ) -> None:
        """Dashed lines where each epoch ends (the steps per epoch are total / epochs)."""
        if self._epochs < 2 or self._total_steps < self._epochs:
            return
        per_epoch = self._total_steps / self._epochs
        pen = QPen(grid, 1, Qt.PenStyle.DashLine)
        spacing = plot.width() * per_epoch / x_max
        label_width = painter.fontMetrics().horizontalAdvance("epoch 88") + 10
        every = max(1, math.ceil(label_width / max(1.0, spacing)))  # labels never overlap
        for epoch in range(1, self._epochs):
            x = plot.left() + plot.width() * (epoch * per_epoch / x_max)
            painter.setPen(pen)
            painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            if epoch % every == 0:
                painter.setPen(muted)
                painter.drawText(QPointF(x + 3, plot.top() + 10), f"epoch {epoch + 1}")
