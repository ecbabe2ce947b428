"""Playing a video from a moment: our player when QtMultimedia works, else the
system's player (which cannot seek, and the user is told so)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app.ui.details import video_player as video_player
from app.ui.details.video_player import multimedia_available, play_video
from tests.media_factory import write_video


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.avi", seconds=3.0)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the system player was asked to open (nothing really starts in a test)."""
    urls: list[str] = []

    def open_url(url: QUrl) -> bool:
        urls.append(url.toLocalFile())
        return True

    monkeypatch.setattr(video_player.QDesktopServices, "openUrl", open_url)
    return urls


def test_availability_follows_the_installed_modules() -> None:
    installed = all(
        importlib.util.find_spec(m) is not None
        for m in ("PySide6.QtMultimedia", "PySide6.QtMultimediaWidgets")
    )
    assert multimedia_available() is installed


def test_without_qtmultimedia_the_system_player_opens_the_file(
    qtbot: QtBot, clip: Path, opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(video_player, "multimedia_available", lambda: False)
    parent = QWidget()
    qtbot.addWidget(parent)

    playback = play_video(str(clip), 12.4, parent)

    assert opened == [str(clip)]
    assert playback.how == "system" and playback.dialog is None
    assert playback.note == (
        "Opened clip.avi in the system player; it starts from the beginning, not at 0:12."
    )
    assert play_video(str(clip), 0.0, parent).note.endswith("starts from the beginning.")


def test_no_player_at_all_and_a_missing_file_are_explained(
    qtbot: QtBot, clip: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(video_player, "multimedia_available", lambda: False)
    monkeypatch.setattr(video_player.QDesktopServices, "openUrl", lambda _url: False)
    playback = play_video(str(clip), 1.0)
    assert playback.how == "failed"
    assert "no application is set up" in playback.note

    gone = play_video(str(tmp_path / "moved.avi"), 1.0)
    assert (gone.how, gone.note) == (
        "failed",
        "Couldn't play moved.avi: the file is gone (moved or deleted).",
    )


def test_a_multimedia_install_without_a_backend_falls_back(
    qtbot: QtBot, clip: Path, opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """QtMultimedia importable but no player can be made: the system player."""
    monkeypatch.setattr(video_player, "multimedia_available", lambda: True)
    monkeypatch.setattr(video_player, "_player_dialog", lambda *_args: None)
    assert play_video(str(clip), 2.0).how == "system"
    assert opened == [str(clip)]


@pytest.mark.skipif(not multimedia_available(), reason="PySide6-Addons (QtMultimedia) absent")
def test_the_player_seeks_to_the_moment(qtbot: QtBot, clip: Path, opened: list[str]) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    playback = play_video(str(clip), 1.5, parent)
    if playback.how == "system":
        pytest.skip("QtMultimedia has no media backend on this machine")
    assert playback.how == "player" and playback.dialog is not None and opened == []
    dialog = playback.dialog
    qtbot.waitUntil(lambda: dialog.seeked, timeout=10_000)
    qtbot.waitUntil(lambda: dialog.player.position() >= 1400, timeout=10_000)
    dialog.close()
