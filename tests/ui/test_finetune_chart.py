"""The loss curve: its tick and smoothing arithmetic, and that it really draws the line."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette
from pytestqt.qtbot import QtBot

from app.ui.finetune.chart import LossCurve, nice_ticks, smoothed, y_range


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 3.15) == [0, 1, 2, 3]
    assert nice_ticks(0, 60, 5) == [0, 20, 40, 60]
    assert nice_ticks(0, 0.42) == [0, 0.2, 0.4]  # at most count + 1 ticks
    assert nice_ticks(0, 0.38) == [0, 0.1, 0.2, 0.3]
    assert nice_ticks(0, 7) == [0, 2, 4, 6]
    assert nice_ticks(2, 2) == [2]  # a flat loss still gets a tick
    assert nice_ticks(0, float("nan")) == [0]


def test_loss_axis_from_zero_or_zoomed_on_a_narrow_band() -> None:
    assert y_range([3.0, 1.5, 0.5]) == (0.0, pytest.approx(3.15))  # falls most of the way
    low, high = y_range([6.7, 6.2, 5.9])  # a narrow band: zoomed, not a flat line on top
    assert 5.0 <= low < 5.9 and 6.7 < high < 7.0
    assert low == pytest.approx(round(low, 6)) and (low * 10) == pytest.approx(round(low * 10))


def test_smoothing_is_debiased_and_follows_a_constant() -> None:
    assert smoothed([]) == []
    assert smoothed([4.0, 4.0, 4.0]) == pytest.approx([4.0, 4.0, 4.0])
    values = smoothed([4.0, 2.0], weight=0.5)
    assert values[0] == pytest.approx(4.0)  # not dragged towards zero at the start
    assert 2.0 < values[1] < 4.0


def test_curve_draws_the_loss_in_the_highlight_colour(qtbot: QtBot) -> None:
    curve = LossCurve()
    qtbot.addWidget(curve)
    curve.resize(400, 200)
    empty = curve.grab().toImage()
    line = curve.palette().color(QPalette.ColorRole.Highlight)

    def line_pixels(image: object) -> int:
        return sum(
            1
            for x in range(0, 400, 2)
            for y in range(0, 200, 2)
            if _close(QColor(image.pixel(x, y)), line)  # type: ignore[attr-defined]
        )

    assert line_pixels(empty) == 0
    for step in range(1, 31):
        curve.add_point(step, 3.0 / step, total_steps=30, epochs=3)
    curve.add_point(31, float("nan"))  # ignored, not a flat line
    assert len(curve.points()) == 30
    assert line_pixels(curve.grab().toImage()) > 50
    curve.clear()
    assert curve.points() == [] and line_pixels(curve.grab().toImage()) == 0


def _close(a: QColor, b: QColor) -> bool:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue()) < 30
