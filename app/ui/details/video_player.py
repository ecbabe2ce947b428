"""Playing a video from a moment.

QtMultimedia ships in PySide6-Addons, which the app does not require (the
Essentials wheel is a quarter of the size), and even when installed it may have no
media backend. So: a small player that starts at the moment when QtMultimedia
works, else the system's player, which cannot be told where to start (the user
is told so).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any, Literal

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QSlider,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.details.text import clock_text

How = Literal["player", "system", "failed"]


@dataclass(frozen=True)
class Playback:
    """How the video was opened, and what to tell the user about it."""

    how: How
    note: str
    dialog: PlayerDialog | None = None


def multimedia_available() -> bool:
    """True if QtMultimedia and its widgets can be imported (PySide6-Addons)."""
    try:
        return all(
            importlib.util.find_spec(name) is not None
            for name in ("PySide6.QtMultimedia", "PySide6.QtMultimediaWidgets")
        )
    except (ImportError, ValueError):
        return False


def play_video(path: str, seconds: float, parent: QWidget | None = None) -> Playback:
    """Play `path` from `seconds`: our player if possible, else the system's."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        return Playback("failed", f"Couldn't play {name}: the file is gone (moved or deleted).")
    if multimedia_available():
        dialog = _player_dialog(path, seconds, parent)
        if dialog is not None:
            dialog.show()
            dialog.raise_()
            return Playback("player", f"Playing {name} from {clock_text(seconds)}", dialog)
    if QDesktopServices.openUrl(QUrl.fromLocalFile(path)):
        start = f", not at {clock_text(seconds)}" if seconds >= 1 else ""
        return Playback(
            "system",
            f"Opened {name} in the system player; it starts from the beginning{start}.",
        )
    return Playback(
        "failed", f"Couldn't play {name}: no application is set up to open this kind of video."
    )


def _player_dialog(path: str, seconds: float, parent: QWidget | None) -> PlayerDialog | None:
    """A player, or None when QtMultimedia has no working backend on this system."""
    try:
        dialog = PlayerDialog(path, seconds, parent)
    except (ImportError, RuntimeError):
        return None
    if not dialog.player.isAvailable():
        dialog.deleteLater()
        return None
    return dialog


class PlayerDialog(QDialog):
    """A video, play/pause and a position slider; seeks to the moment once loaded."""

    def __init__(self, path: str, seconds: float, parent: QWidget | None = None) -> None:
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
        from PySide6.QtMultimediaWidgets import QVideoWidget

        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._media_player = QMediaPlayer
        self.setWindowTitle(os.path.basename(path))
        self.resize(720, 460)
        self.start_ms = max(0, int(seconds * 1000))
        self.seeked = False
        self.player = QMediaPlayer(self)
        self._audio = QAudioOutput(self)
        self.player.setAudioOutput(self._audio)
        self.video = QVideoWidget(self)
        self.player.setVideoOutput(self.video)
        self.play_button = QToolButton()
        self.play_button.setAutoRaise(True)
        self.play_button.clicked.connect(self._toggle)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.sliderMoved.connect(self.player.setPosition)
        self.time_label = QLabel("0:00")
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.time_label)
        layout = QVBoxLayout(self)
        layout.addWidget(self.video, 1)
        layout.addWidget(self.error_label)
        layout.addLayout(controls)
        self.player.mediaStatusChanged.connect(self._status_changed)
        self.player.durationChanged.connect(lambda ms: self.slider.setRange(0, ms))
        self.player.positionChanged.connect(self._position_changed)
        self.player.playbackStateChanged.connect(self._show_state)
        self.player.errorOccurred.connect(self._error)
        self._show_state()
        self.player.setSource(QUrl.fromLocalFile(path))

    def _status_changed(self, status: Any) -> None:
        status_enum = self._media_player.MediaStatus
        if not self.seeked and status in (status_enum.LoadedMedia, status_enum.BufferedMedia):
            self.seeked = True
            self.player.setPosition(self.start_ms)
            self.player.play()

    def _position_changed(self, ms: int) -> None:
        if not self.slider.isSliderDown():
            self.slider.setValue(ms)
        self.time_label.setText(
            f"{clock_text(ms / 1000)} / {clock_text(self.player.duration() / 1000)}"
        )

    def _toggle(self) -> None:
        playing = self._media_player.PlaybackState.PlayingState
        if self.player.playbackState() == playing:
            self.player.pause()
        else:
            self.player.play()

    def _show_state(self, *_args: object) -> None:
        playing = self.player.playbackState() == self._media_player.PlaybackState.PlayingState
        icon = (
            QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        )
        self.play_button.setIcon(self.style().standardIcon(icon))
        self.play_button.setToolTip("Pause" if playing else "Play")

    def _error(self, _error: object, message: str) -> None:
        self.error_label.setText(f"Can't play this video: {message or 'unsupported format'}")
        self.error_label.show()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.player.stop()
        super().closeEvent(event)
