"""The details panel's building blocks: preview, headings, notices, history, EXIF.

Secondary text uses the palette's placeholder role and surfaces its alternate
base, so everything reads right in dark mode without a colour in the code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QClipboard,
    QContextMenuEvent,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.core.item_details import Version
from app.core.text import counted
from app.ui.details.text import source_text

HISTORY_SHOWN = 8  # older versions wait behind "Show N more"


def muted(label: QLabel) -> QLabel:
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    label.setContentsMargins(0, 10, 0, 0)
    return label


SOFT_BREAK = "\u200b"  # zero-width space: a line may break here
_BREAK_AFTER = re.compile(r"([_\-./\\:])(?=\S)")


def breakable(text: str) -> str:
    """`text` with places a line may break inside long words (after _ - . / \\ :), so
    a long file or model name wraps instead of widening the panel."""
    return _BREAK_AFTER.sub(r"\1" + SOFT_BREAK, text)


class WrappedLabel(QLabel):
    """A label that wraps and never asks for more width than it is given: long words
    break after _ - . / (`breakable`), and a word still longer than the column is cut
    at the edge rather than widening the panel past its column. Copying a selection
    gives the words without the added breaks."""

    def __init__(self, text: str = "", *, selectable: bool = False) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)  # file names and captions are not HTML
        self.setMinimumWidth(1)
        if selectable:
            self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt override)
        self._plain = text
        super().setText(breakable(text))

    def text(self) -> str:
        return self._plain

    def selected_text(self) -> str:
        return self.selectedText().replace(SOFT_BREAK, "")

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.matches(QKeySequence.StandardKey.Copy) and self.hasSelectedText():
            QGuiApplication.clipboard().setText(self.selected_text())
            return
        super().keyPressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        super().mouseReleaseEvent(event)  # X11 sets the selection clipboard here
        clipboard = QGuiApplication.clipboard()
        if self.hasSelectedText() and clipboard.supportsSelection():
            clipboard.setText(self.selected_text(), QClipboard.Mode.Selection)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802
        if not self.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse:
            super().contextMenuEvent(event)
            return
        menu = QMenu(self)
        copy = menu.addAction("Copy")
        copy.setEnabled(self.hasSelectedText())
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(self.selected_text()))
        select_all = menu.addAction("Select All")
        select_all.triggered.connect(lambda: self.setSelection(0, len(breakable(self._plain))))
        menu.exec(event.globalPos())
        menu.deleteLater()


def wrapped(text: str = "", *, selectable: bool = False) -> QLabel:
    return WrappedLabel(text, selectable=selectable)


PREVIEW_SHARE = 0.4  # of the panel's visible height: the caption stays above the fold


class Preview(QWidget):
    """The picture at the panel's width, aspect kept, its height capped at a square and
    at `PREVIEW_SHARE` of the panel's visible height (`set_height_cap`), so a square or
    portrait photo never pushes the caption below the fold; a note when there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.height_cap: int | None = None
        self._pixmap: QPixmap | None = None
        self._scaled: QPixmap | None = None
        self.note = ""
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def set_image(self, image: QImage | None, note: str = "") -> None:
        self._pixmap = QPixmap.fromImage(image) if image is not None else None
        self._scaled = None
        self.note = note
        self.setToolTip(note)
        self._fit()
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit()

    def set_height_cap(self, pixels: int) -> None:
        """Depends on the panel's height, never on this widget's width: no layout loop."""
        if pixels != self.height_cap:
            self.height_cap = pixels
            self._fit()

    def _fit(self) -> None:
        """Box layouts in a scroll area ignore height-for-width: set the height here
        (only the width drives it, so this settles after one pass)."""
        height = self.heightForWidth(self.width())
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        if self._pixmap is None or self._pixmap.isNull():
            return max(120, width * 9 // 16)
        natural = width * self._pixmap.height() // max(1, self._pixmap.width())
        cap = width if self.height_cap is None else min(width, self.height_cap)
        return max(60, min(natural, cap))

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(320, self.heightForWidth(320))

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        area = self._image_rect()
        clip = QPainterPath()
        clip.addRoundedRect(area, 8, 8)
        painter.setClipPath(clip)
        if self._pixmap is None or self._pixmap.isNull():
            painter.fillRect(area, palette.color(QPalette.ColorRole.AlternateBase))
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                area.adjusted(12, 12, -12, -12),
                int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap),
                self.note,
            )
            return
        painter.drawPixmap(area.topLeft(), self._scaled_pixmap(area.size().toSize()))

    def _image_rect(self) -> QRectF:
        if self._pixmap is None or self._pixmap.isNull():
            return QRectF(self.rect())
        size = self._pixmap.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - size.width()) / 2
        y = (self.height() - size.height()) / 2
        return QRectF(x, y, size.width(), size.height())

    def _scaled_pixmap(self, size: QSize) -> QPixmap:
        ratio = self.devicePixelRatioF()
        if self._scaled is None or self._scaled.deviceIndependentSize().toSize() != size:
            assert self._pixmap is not None
            self._scaled = self._pixmap.scaled(
                size * ratio,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            self._scaled.setDevicePixelRatio(ratio)
        return self._scaled


class Notice(QFrame):
    """A boxed message with an icon: the item's problem in a sentence, the raw error
    behind "Details", and Retry when trying again can help."""

    retry_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        icon = QLabel()
        side = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        warning = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        icon.setPixmap(warning.pixmap(side, side))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.label = wrapped(selectable=True)
        self.detail = muted(wrapped(selectable=True))
        self.detail.setObjectName("notice_detail")
        self.detail.hide()
        self.details_button = QPushButton("Details")
        self.details_button.setObjectName("notice_details")
        self.details_button.setCheckable(True)
        self.details_button.setFlat(True)
        self.details_button.setToolTip("The error as it was reported")
        self.details_button.toggled.connect(self.detail.setVisible)
        self.retry_button = QPushButton("Retry")
        self.retry_button.setObjectName("notice_retry")
        self.retry_button.setToolTip("Caption this item again, ahead of other work")
        self.retry_button.clicked.connect(self.retry_requested)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.details_button)
        buttons.addStretch(1)
        buttons.addWidget(self.retry_button)
        text = QVBoxLayout()
        text.setContentsMargins(0, 0, 0, 0)
        text.addWidget(self.label)
        text.addWidget(self.detail)
        text.addLayout(buttons)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(text, 1)
        self.hide()

    def show_text(self, text: str | None, detail: str = "", *, retry: bool = False) -> None:
        """The sentence (None: no problem), its raw detail, and whether Retry helps."""
        if detail != self.detail.text():
            self.details_button.setChecked(False)
        self.label.setText(text or "")
        self.detail.setText(detail)
        self.details_button.setVisible(bool(detail))
        self.retry_button.setVisible(retry)
        self.retry_button.setEnabled(True)
        self.setVisible(bool(text))


class HistoryEntry(QWidget):
    """One version: who wrote it and when, its words, and Restore (unless current)."""

    def __init__(self, version: Version, current: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.version = version
        source = muted(wrapped(source_text(version)))
        self.restore_button = QPushButton("Current" if current else "Restore")
        self.restore_button.setFlat(True)
        self.restore_button.setEnabled(not current)
        self.restore_button.setToolTip(
            "The caption shown now" if current else "Make this version the current caption"
        )
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(source, 1)
        top.addWidget(self.restore_button)
        self.text_label = wrapped(version.text or "(no caption)", selectable=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.text_label)
        if version.tags:
            layout.addWidget(muted(wrapped("Tags: " + ", ".join(version.tags))))


class HistoryList(QWidget):
    """Every version of the caption, newest first; `restore_requested(caption_id)`."""

    restore_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self._versions: tuple[Version, ...] = ()
        self._current_id: int | None = None
        self._show_all = False
        self.more_button = QPushButton()
        self.more_button.setFlat(True)
        self.more_button.clicked.connect(self._expand)

    def entries(self) -> list[HistoryEntry]:
        items = (self._layout.itemAt(i) for i in range(self._layout.count()))
        return [w for i in items if i and isinstance(w := i.widget(), HistoryEntry)]

    def set_versions(self, versions: Sequence[Version], current_id: int | None) -> None:
        if tuple(versions) != self._versions:
            self._show_all = False
        self._versions, self._current_id = tuple(versions), current_id
        self._rebuild()

    def _expand(self) -> None:
        self._show_all = True
        self._rebuild()

    def _rebuild(self) -> None:
        while (item := self._layout.takeAt(0)) is not None:
            widget = item.widget()
            if widget is not None and widget is not self.more_button:
                widget.hide()
                widget.deleteLater()
        shown = self._versions if self._show_all else self._versions[:HISTORY_SHOWN]
        for index, version in enumerate(shown):
            if index:
                line = QFrame()
                line.setFrameShape(QFrame.Shape.HLine)
                line.setFrameShadow(QFrame.Shadow.Sunken)
                self._layout.addWidget(line)
            entry = HistoryEntry(version, version.id == self._current_id, self)
            entry.restore_button.clicked.connect(
                lambda _c=False, cid=version.id: self.restore_requested.emit(cid)
            )
            self._layout.addWidget(entry)
        hidden = len(self._versions) - len(shown)
        self.more_button.setText(f"Show {counted(hidden, 'older version')}")
        self.more_button.setVisible(hidden > 0)
        self._layout.addWidget(self.more_button)


class ExifForm(QWidget):
    """Camera, lens, exposure...: label on the left (muted), value on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setHorizontalSpacing(12)
        self.form.setVerticalSpacing(4)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)

    def set_rows(self, rows: Sequence[tuple[str, str]]) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        for label, value in rows:
            self.form.addRow(muted(QLabel(label)), wrapped(value, selectable=True))

    def rows(self) -> list[tuple[str, str]]:
        result = []
        for row in range(self.form.rowCount()):
            label_item = self.form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            value_item = self.form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            assert label_item is not None and value_item is not None
            label, value = label_item.widget(), value_item.widget()
            assert isinstance(label, QLabel) and isinstance(value, QLabel)
            result.append((label.text(), value.text()))
        return result
