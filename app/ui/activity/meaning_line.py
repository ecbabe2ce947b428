"""The activity panel's line about search by meaning (issue 14), from the worker's
EmbeddingProgress and EmbeddingFailed events:

    Search by meaning: reading captions — 1,234 left
    Search by meaning ready (EmbeddingGemma 300M)
    Search by meaning is off: <why>                      (the error tone)

Hidden until the first such event: the worker sends none without an embedding model,
and the app works fine without one. Hidden again when the setting changes (the worker
restarts and says how the new model is doing).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from app.core.captioning.events import EmbeddingFailed, EmbeddingProgress
from app.ui.theme import tone_style
from app.ui.words import meaning_failed, meaning_progress


class MeaningLine(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("meaning_line")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.tone = ""
        self.hide()

    def show_event(self, event: EmbeddingProgress | EmbeddingFailed) -> None:
        if isinstance(event, EmbeddingFailed):
            self._show(meaning_failed(event.message), "error")
            self.setToolTip(
                "Captioning goes on; search finds words only until this is fixed "
                "(Settings → Models)"
            )
        else:
            self._show(meaning_progress(event.model, event.pending, event.ready), "muted")
            self.setToolTip(
                "Captions are turned into vectors so that a search finds what they mean, "
                "in other words and other languages too"
            )

    def reset(self) -> None:
        """The embedding model setting changed: nothing to say until the worker speaks."""
        self.hide()
        self.setText("")
        self.tone = ""

    def _show(self, text: str, tone: str) -> None:
        self.tone = tone
        self.setText(text)
        if tone == "error":
            self.setStyleSheet(tone_style("error"))
        else:
            self.setStyleSheet("color: palette(placeholder-text);")
        self.show()
