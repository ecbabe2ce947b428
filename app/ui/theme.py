"""The window's colours, light and dark, chosen to meet WCAG 2.1 AA: 4.5:1 for text
(body, secondary and coloured notes) and 3:1 for the outlines of controls, in both themes
(tests/ui/test_theme.py computes every pair).

Fusion's own light palette fails that (its placeholder text is black at half opacity,
3.9:1 on white; white on its highlight is 3.6:1), and its dark check boxes have a border
that differs from the window by 1.1:1. So both palettes are spelled out here, coloured
notes (an error, a warning, "done") come from `tone`, never from a hex code at the call
site, and `AccessibleStyle` draws check boxes, radio buttons and focus rings that can
be seen.
"""

from __future__ import annotations

import os
from typing import Literal

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleOption, QWidget

THEME_ENV = "CAPTIONIST_THEME"  # "dark" or "light" overrides the setting and the system
THEMES = ("system", "light", "dark")
Tone = Literal["error", "warn", "ok", "info"]

Role = QPalette.ColorRole
_LIGHT: dict[QPalette.ColorRole, tuple[int, int, int]] = {
    Role.Window: (240, 240, 242),
    Role.WindowText: (20, 20, 22),
    Role.Base: (255, 255, 255),
    Role.AlternateBase: (246, 246, 248),
    Role.ToolTipBase: (255, 255, 225),
    Role.ToolTipText: (20, 20, 22),
    Role.Text: (20, 20, 22),
    Role.Button: (240, 240, 242),
    Role.ButtonText: (20, 20, 22),
    Role.BrightText: (200, 30, 30),
    Role.Highlight: (38, 102, 196),
    Role.HighlightedText: (255, 255, 255),
    Role.Link: (20, 90, 190),
    Role.PlaceholderText: (96, 96, 102),  # secondary text: 5.9:1 on the window
    Role.Mid: (184, 184, 188),
    Role.Midlight: (225, 225, 228),
    Role.Light: (255, 255, 255),
    Role.Dark: (150, 150, 154),
    Role.Shadow: (90, 90, 90),
}
_DARK: dict[QPalette.ColorRole, tuple[int, int, int]] = {
    Role.Window: (37, 37, 40),
    Role.WindowText: (230, 230, 232),
    Role.Base: (28, 28, 30),
    Role.AlternateBase: (48, 48, 52),
    Role.ToolTipBase: (52, 52, 56),
    Role.ToolTipText: (235, 235, 235),
    Role.Text: (230, 230, 232),
    Role.Button: (48, 48, 52),
    Role.ButtonText: (230, 230, 232),
    Role.BrightText: (255, 110, 110),
    Role.Highlight: (50, 112, 225),  # white on it 4.6:1, it on the window 3.4:1
    Role.HighlightedText: (255, 255, 255),
    Role.Link: (120, 168, 255),
    Role.PlaceholderText: (160, 160, 166),  # secondary text: 6.1:1 on the window
    Role.Mid: (70, 70, 75),
    Role.Midlight: (60, 60, 66),
    Role.Light: (80, 80, 86),
    Role.Dark: (20, 20, 22),
    Role.Shadow: (0, 0, 0),
}
_DISABLED_TEXT = {False: (150, 150, 154), True: (125, 125, 130)}  # exempt from AA; still legible
# The outline of a check box, radio button or text field: 3:1 against the window.
_OUTLINE = {False: (118, 118, 124), True: (140, 140, 148)}
_TONES: dict[bool, dict[Tone, tuple[int, int, int]]] = {
    False: {
        "error": (176, 32, 32),
        "warn": (150, 70, 0),
        "ok": (28, 110, 40),
        "info": (30, 90, 170),
    },
    True: {
        "error": (255, 128, 120),
        "warn": (255, 182, 90),
        "ok": (120, 205, 130),
        "info": (130, 175, 255),
    },
}


def palette(dark: bool) -> QPalette:
    result = QPalette()
    for role, rgb in (_DARK if dark else _LIGHT).items():
        result.setColor(role, QColor(*rgb))
    disabled = QPalette.ColorGroup.Disabled
    for role in (Role.Text, Role.ButtonText, Role.WindowText):
        result.setColor(disabled, role, QColor(*_DISABLED_TEXT[dark]))
    return result


def is_dark(pal: QPalette | None = None) -> bool:
    pal = pal if pal is not None else QGuiApplication.palette()
    return pal.color(Role.Window).lightness() < 128


def tone(name: Tone, pal: QPalette | None = None) -> QColor:
    """A coloured note's colour that reads on this palette's window and base."""
    return QColor(*_TONES[is_dark(pal)][name])


def tone_style(name: Tone, *, bold: bool = False) -> str:
    """A label's style sheet for a coloured note in the current theme."""
    weight = " font-weight: 600;" if bold else ""
    return f"color: {tone(name).name()};{weight}"


def outline(pal: QPalette | None = None) -> QColor:
    return QColor(*_OUTLINE[is_dark(pal)])


def wanted_dark(choice: str) -> bool:
    """Dark or light for the user's choice ("system", "light", "dark"); the environment
    variable wins (screenshots, tests)."""
    forced = os.environ.get(THEME_ENV, "").lower()
    if forced in ("light", "dark"):
        choice = forced
    if choice == "dark":
        return True
    if choice == "light":
        return False
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication, choice: str = "system") -> None:
    """Fusion (the same look everywhere, following the palette) with our palette; may
    be called again when the user changes the theme in Settings."""
    if not isinstance(app.style(), AccessibleStyle):
        app.setStyle(AccessibleStyle("Fusion"))
    app.setPalette(palette(wanted_dark(choice)))


class AccessibleStyle(QProxyStyle):
    """Fusion, with check boxes and radio buttons whose outline is 3:1 against the
    window (a checked box is filled with the highlight, as the user's eye expects), and a
    2 px focus ring in the highlight colour on every focusable control."""

    def drawPrimitive(
        self,
        element: QStyle.PrimitiveElement,
        option: QStyleOption,
        painter: QPainter,
        widget: QWidget | None = None,
    ) -> None:
        if element == QStyle.PrimitiveElement.PE_IndicatorCheckBox:
            _check_box(option, painter)
        elif element == QStyle.PrimitiveElement.PE_IndicatorRadioButton:
            _radio_button(option, painter)
        elif element == QStyle.PrimitiveElement.PE_FrameFocusRect:
            _focus_ring(option, painter)
        else:
            super().drawPrimitive(element, option, painter, widget)


def _state(option: QStyleOption) -> tuple[bool, bool, bool]:
    state = option.state
    on = bool(state & QStyle.StateFlag.State_On)
    partial = bool(state & QStyle.StateFlag.State_NoChange)
    enabled = bool(state & QStyle.StateFlag.State_Enabled)
    return on, partial, enabled


def _check_box(option: QStyleOption, painter: QPainter) -> None:
    pal: QPalette = option.palette
    on, partial, enabled = _state(option)
    box = QRectF(option.rect).adjusted(1.5, 1.5, -1.5, -1.5)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    filled = (on or partial) and enabled
    painter.setPen(QPen(pal.color(Role.Highlight) if filled else outline(pal), 1.5))
    painter.setBrush(pal.color(Role.Highlight) if filled else pal.color(Role.Base))
    painter.drawRoundedRect(box, 2.5, 2.5)
    mark = QPen(pal.color(Role.HighlightedText if filled else Role.Text), 2.0)
    mark.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(mark)
    w, h, x, y = box.width(), box.height(), box.x(), box.y()
    if partial:
        painter.drawLine(QPointF(x + w * 0.25, y + h / 2), QPointF(x + w * 0.75, y + h / 2))
    elif on:
        tick = QPainterPath(QPointF(x + w * 0.22, y + h * 0.52))
        tick.lineTo(x + w * 0.42, y + h * 0.72)
        tick.lineTo(x + w * 0.78, y + h * 0.30)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(tick)
    painter.restore()


def _radio_button(option: QStyleOption, painter: QPainter) -> None:
    pal: QPalette = option.palette
    on, _partial, enabled = _state(option)
    ring = QRectF(option.rect).adjusted(1.5, 1.5, -1.5, -1.5)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    filled = on and enabled
    painter.setPen(QPen(pal.color(Role.Highlight) if filled else outline(pal), 1.5))
    painter.setBrush(pal.color(Role.Base))
    painter.drawEllipse(ring)
    if on:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(pal.color(Role.Highlight))
        inset = ring.width() * 0.28
        painter.drawEllipse(ring.adjusted(inset, inset, -inset, -inset))
    painter.restore()


def _focus_ring(option: QStyleOption, painter: QPainter) -> None:
    pal: QPalette = option.palette
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(pal.color(Role.Highlight), 2.0))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRoundedRect(QRectF(option.rect).adjusted(1, 1, -1, -1), 3, 3)
    painter.restore()
