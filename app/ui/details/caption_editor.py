"""The caption box: who wrote the caption, the words (editable), Accept/Revert/Save.

It remembers the stored words separately from what is typed, so when the same
item is re-read underneath (a caption arrived, an undo landed) the user's
unsaved typing stays and only "what Revert goes back to" moves.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.details.widgets import muted, wrapped
from app.ui.theme import outline

MIN_LINES, MAX_LINES = 3, 12


class ButtonRow(QWidget):
    """Buttons on the left and on the right of one row; when the row is too narrow for
    both groups, the right group goes under the left one (still right-aligned), so no
    button is cut off by a narrow panel."""

    def __init__(
        self, left: Sequence[QWidget], right: Sequence[QWidget], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._left, self._right = QWidget(), QWidget()
        for group, widgets in ((self._left, left), (self._right, right)):
            row = QHBoxLayout(group)
            row.setContentsMargins(0, 0, 0, 0)
            for widget in widgets:
                row.addWidget(widget)
        self._layout = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self._left, 0, Qt.AlignmentFlag.AlignLeft)
        self._layout.addStretch(1)
        self._layout.addWidget(self._right, 0, Qt.AlignmentFlag.AlignRight)

    def stacked(self) -> bool:
        return self._layout.direction() == QBoxLayout.Direction.TopToBottom

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        """As narrow as the widest group: the groups stack rather than widen the panel."""
        left, right = self._left.minimumSizeHint(), self._right.minimumSizeHint()
        height = left.height() + self._layout.spacing() + right.height()
        return QSize(
            max(left.width(), right.width()),
            height if self.stacked() else max(left.height(), right.height()),
        )

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._reflow(event.size().width())

    def reflow(self) -> None:
        """After a button was shown or hidden."""
        self._reflow(self.width())

    def _reflow(self, width: int) -> None:
        left = self._left.sizeHint().width() if self._left.isVisibleTo(self) else 0
        needed = left + self._layout.spacing() + self._right.sizeHint().width()
        direction = (
            QBoxLayout.Direction.TopToBottom if width < needed else QBoxLayout.Direction.LeftToRight
        )
        if direction != self._layout.direction():
            self._layout.setDirection(direction)
            self.updateGeometry()


def focus_ring_style(selector: str) -> str:
    return (
        f"{selector} {{ border: 1px solid {outline().name()}; border-radius: 3px; padding: 2px; }}"
        f"{selector}:focus {{ border: 2px solid palette(highlight); padding: 1px; }}"
    )


class CaptionEditor(QWidget):
    save_requested = Signal(str)  # the typed words, stripped and non-empty
    accept_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._saved = ""
        self._sent: str | None = None  # the words of the last Save, until a refresh
        self.provenance = muted(wrapped())
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("No caption yet. Write one…")
        self.editor.setTabChangesFocus(True)
        # A clear ring while typing (F2 lands here): the frame Fusion draws for a text
        # box does not change with focus.
        self.editor.setStyleSheet(focus_ring_style("QPlainTextEdit"))
        self.editor.textChanged.connect(self._changed)
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Save the caption as yours (Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Go back to the saved caption")
        self.revert_button.clicked.connect(self.revert)
        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip("The AI's caption is right: mark it as reviewed")
        self.accept_button.clicked.connect(self.accept_requested)
        self.accept_button.hide()
        self.hint = muted(wrapped())
        self.hint.hide()
        # An action, not a bare shortcut, so that the window's Item menu can show it (and
        # Ctrl+S stays one shortcut): it fires while the caption box has the focus.
        self.save_action = QAction("Save caption", self)
        self.save_action.setShortcut(QKeySequence.StandardKey.Save)
        self.save_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.save_action.setStatusTip("Save the caption being typed as yours")
        self.save_action.triggered.connect(self.save)
        self.editor.addAction(self.save_action)
        self.buttons = ButtonRow([self.accept_button], [self.revert_button, self.save_button])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.provenance)
        layout.addWidget(self.editor)
        layout.addWidget(self.hint)
        layout.addWidget(self.buttons)
        self._changed()

    # -- state -------------------------------------------------------------------------
    def saved_text(self) -> str:
        return self._saved

    def text(self) -> str:
        return self.editor.toPlainText()

    def is_dirty(self) -> bool:
        return self.text().strip() != self._saved.strip()

    def load(self, saved: str, *, keep_typing: bool) -> None:
        """Show the stored caption; with keep_typing, unsaved words stay in the box."""
        typing = keep_typing and self.is_dirty() and self.text().strip() != self._sent
        self._saved = saved
        self._sent = None
        if not typing:
            self.editor.setPlainText(saved)
        self._changed()

    def set_editable(self, editable: bool) -> None:
        self.editor.setReadOnly(not editable)
        self._changed()

    def show_hint(self, text: str | None) -> None:
        self.hint.setText(text or "")
        self.hint.setVisible(bool(text))

    # -- actions -----------------------------------------------------------------------
    def save(self) -> None:
        if self.editor.isReadOnly() or not self.is_dirty():
            return
        text = self.text().strip()
        if not text:
            self.show_hint("A caption can't be empty: write something, or Revert.")
            return
        self.show_hint(None)
        # What is being saved is no longer typing: a refresh that shows the library
        # without it (read before the write, or after an undo of it) replaces it.
        self._sent = text
        self.save_requested.emit(text)

    def revert(self) -> None:
        self.editor.setPlainText(self._saved)
        self.show_hint(None)

    def _changed(self) -> None:
        dirty = self.is_dirty() and not self.editor.isReadOnly()
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)
        self.save_button.setDefault(dirty)
        self._fit_height()

    def _fit_height(self) -> None:
        """Tall enough for the words (3 to 12 lines), so short captions stay compact."""
        line = self.editor.fontMetrics().lineSpacing()
        lines = max(MIN_LINES, min(MAX_LINES, self._wrapped_lines() + 1))
        margins = self.editor.contentsMargins()
        frame = 2 * self.editor.frameWidth() + margins.top() + margins.bottom()
        doc_margin = int(2 * self.editor.document().documentMargin())
        self.editor.setFixedHeight(lines * line + frame + doc_margin)

    def _wrapped_lines(self) -> int:
        layout = self.editor.document().documentLayout()
        height = layout.documentSize().height()  # in lines for a plain text edit
        return max(1, int(height))

    def set_accept_visible(self, visible: bool) -> None:
        self.accept_button.setVisible(visible)
        self.buttons.reflow()
