"""A transient notice over the bottom of the gallery: what just happened ("Removed 1
item", "Undone: Remove folder 'photos'", "Couldn't open …"), with an Undo button when
it can be taken back. It hides by itself after a few seconds."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

NOTICE_MS = 8000
MARGIN = 12
STYLE = """
QFrame#notice { background: rgba(38, 38, 38, 235); border-radius: 6px; }
QFrame#notice QLabel { color: white; }
QFrame#notice QPushButton { color: #8ab4f8; font-weight: bold; border: none; padding: 2px 8px; }
QFrame#notice QToolButton { color: #cccccc; border: none; }
"""


class Notice(QFrame):
    """One line at a time, centred at the bottom of `host`; a new one replaces it."""

    def __init__(self, host: QWidget) -> None:
        super().__init__(host)
        self.setObjectName("notice")
        self.setStyleSheet(STYLE)
        self.label = QLabel()
        self.label.setObjectName("notice_text")
        self.label.setWordWrap(True)
        self.button = QPushButton("Undo")
        self.button.setObjectName("notice_action")
        self.button.clicked.connect(self._act)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        layout.addWidget(close)
        self._action: Callable[[], None] | None = None
        self._timer = QTimer(self, singleShot=True, interval=NOTICE_MS)
        self._timer.timeout.connect(self.dismiss)
        self._host = host
        host.installEventFilter(self)
        self.hide()

    def show_text(
        self,
        text: str,
        action_text: str | None = None,
        action: Callable[[], None] | None = None,
    ) -> None:
        self.label.setText(text)
        self._action = action
        self.button.setText(action_text or "")
        self.button.setVisible(action is not None)
        self._place()
        self.show()
        self.raise_()
        self._timer.start()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        self._timer.stop()
        self._action = None
        self.hide()

    def _act(self) -> None:
        action = self._action
        self.dismiss()
        if action is not None:
            action()

    def _place(self) -> None:
        host = self._host.rect()
        width = min(max(440, host.width() * 3 // 5), host.width() - 2 * MARGIN)
        self.setFixedWidth(max(width, 0))
        self.adjustSize()
        self.move(host.center().x() - self.width() // 2, host.bottom() - self.height() - MARGIN)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._host and event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False
