"""Tags as removable chips that wrap to the panel's width, plus an "Add tag" field.

Chips paint themselves from the palette (button fill, mid-tone outline), so they
follow light and dark mode without a colour in the code.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QLineEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

SPACING = 6


class FlowLayout(QLayout):
    """Left-to-right rows that wrap (Qt's flow layout example), for chips."""

    def __init__(self, parent: QWidget | None = None, spacing: int = SPACING) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._gap = spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 (Qt override)
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802
        return self.minimumSize()

    def minimumSize(self) -> QSize:  # noqa: N802
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        return size

    def _arrange(self, rect: QRect, *, move: bool) -> int:
        x, y, row_height = rect.x(), rect.y(), 0
        for item in self._items:
            hint = item.sizeHint()
            # An item wider than the row (a long tag) gets the row's width, no more.
            hint.setWidth(max(item.minimumSize().width(), min(hint.width(), rect.width())))
            if x + hint.width() > rect.right() + 1 and row_height > 0:
                x, y = rect.x(), y + row_height + self._gap
                row_height = 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._gap
            row_height = max(row_height, hint.height())
        return y + row_height - rect.y()


class Chip(QWidget):
    """One tag: its text and a × that removes it."""

    remove_requested = Signal(str)

    def __init__(self, tag: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tag = tag
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 2, 4, 2)
        layout.setSpacing(2)
        self.label = QLabel(tag)
        self.label.setForegroundRole(QPalette.ColorRole.ButtonText)
        self.label.setMinimumWidth(24)  # a long tag is cut in a narrow panel (its × stays)
        self.label.setToolTip(tag)
        self.remove_button = QToolButton()
        self.remove_button.setText("×")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.remove_button.setToolTip(f"Remove tag “{tag}”")
        self.remove_button.setAccessibleName(f"Remove tag {tag}")
        self.remove_button.clicked.connect(lambda: self.remove_requested.emit(self.tag))
        layout.addWidget(self.label)
        layout.addWidget(self.remove_button)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        radius = rect.height() / 2
        painter.setPen(self.palette().color(QPalette.ColorRole.Mid))
        painter.setBrush(self.palette().color(QPalette.ColorRole.Button))
        painter.drawRoundedRect(rect, radius, radius)


def split_tags(text: str) -> list[str]:
    """ "beach, sunset " -> ["beach", "sunset"]: commas separate, spaces fold."""
    return [" ".join(part.split()) for part in text.split(",") if part.strip()]


class TagChips(QWidget):
    """The item's tags. Edits change the chips at once and are announced, so the
    owner can save them (the chips stay as shown until `set_tags` says otherwise)."""

    tag_added = Signal(str)
    tag_removed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tags: list[str] = []
        self._editable = True
        self._chips = QWidget()
        self._flow = FlowLayout(self._chips)
        self.input = QLineEdit()
        self.input.setPlaceholderText("Add a tag…")
        self.input.setClearButtonEnabled(True)
        self.input.setToolTip("Type a tag and press Enter (commas add several)")
        self.input.returnPressed.connect(self._add_typed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self._chips)
        layout.addWidget(self.input)

    def tags(self) -> list[str]:
        return list(self._tags)

    def chip_texts(self) -> list[str]:
        return [chip.tag for chip in self.chips()]

    def chips(self) -> list[Chip]:
        items = (self._flow.itemAt(i) for i in range(self._flow.count()))
        return [w for item in items if item and isinstance(w := item.widget(), Chip)]

    def set_tags(self, tags: Sequence[str]) -> None:
        if list(tags) == self._tags:
            return
        self._tags = list(tags)
        self._rebuild()

    def set_editable(self, editable: bool) -> None:
        self._editable = editable
        self.input.setEnabled(editable)
        for chip in self.chips():
            chip.remove_button.setEnabled(editable)

    def add(self, tag: str) -> bool:
        tag = " ".join(tag.split())
        if not tag or tag.casefold() in {t.casefold() for t in self._tags}:
            return False
        self._tags.append(tag)
        self._rebuild()
        self.tag_added.emit(tag)
        return True

    def remove(self, tag: str) -> bool:
        if tag not in self._tags:
            return False
        self._tags.remove(tag)
        self._rebuild()
        self.tag_removed.emit(tag)
        return True

    def _add_typed(self) -> None:
        for tag in split_tags(self.input.text()):
            self.add(tag)
        self.input.clear()

    def _rebuild(self) -> None:
        while (item := self._flow.takeAt(0)) is not None:
            if widget := item.widget():
                widget.hide()
                widget.deleteLater()
        for tag in self._tags:
            chip = Chip(tag, self._chips)
            chip.remove_requested.connect(self.remove)
            chip.remove_button.setEnabled(self._editable)
            self._flow.addWidget(chip)
        self._chips.setVisible(bool(self._tags))
        self._flow.invalidate()
        self.updateGeometry()
