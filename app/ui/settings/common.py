"""What the settings pages share: a settings store and status-line helpers.

Settings reads and writes happen off the GUI thread and in the order they were made.

A single background thread does all of them: two quick clicks on a checkbox must land in the
database in click order, which a wider pool would not promise. Every completed write is
announced with the keys it changed, so the window can nudge the caption worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QLabel

from app.core.settings import Settings, SettingsValues
from app.core.storage.db import Database
from app.services.background import Background
from app.ui.theme import tone_style

NOTE_STYLE = "color: palette(placeholder-text);"  # secondary text, 4.5:1 in both themes


def error_style() -> str:
    return tone_style("error")


class SettingsStore(QObject):
    saved = Signal(set)  # the keys a write changed
    failed = Signal(str)  # a read or a write did not work; the message is for the user

    def __init__(self, db: Database, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = Settings(db)
        self._lane = Background(self, threads=1)

    def load(
        self,
        on_loaded: Callable[[SettingsValues, Any], None],
        also: Callable[[], Any] | None = None,
    ) -> None:
        """Read the settings (and run `also`, e.g. reading a resource file) on the settings
        lane; `on_loaded(values, also_result)` runs on the GUI thread."""

        def read() -> tuple[SettingsValues, Any]:
            return self._settings.read(), also() if also is not None else None

        self._lane.run(read, lambda result: on_loaded(*result), self._failed)

    def save(self, values: dict[str, Any], on_saved: Callable[[], None] | None = None) -> None:
        """Write `values`; `saved` (and `on_saved`) follow once they are in the database."""
        changes = dict(values)

        def write() -> set[str]:
            for key, value in changes.items():
                self._settings.set(key, value)
            return set(changes)

        def done(keys: set[str]) -> None:
            if on_saved is not None:
                on_saved()
            self.saved.emit(keys)

        self._lane.run(write, done, self._failed)

    def run(
        self,
        work: Callable[[Settings], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None],
        changes: set[str],
    ) -> None:
        """Run `work(settings)` on the settings lane, in order with the other reads and
        writes (a registry edit that reads, checks and writes one setting); `saved`
        follows with `changes` once it succeeded. Its errors go to `on_error` only: they
        are the user's to fix (a bad address), not a settings failure."""

        def done(result: Any) -> None:
            on_done(result)
            self.saved.emit(set(changes))

        self._lane.run(lambda: work(self._settings), done, on_error)

    def _failed(self, message: str) -> None:
        self.failed.emit(f"Settings could not be read or saved: {message}")


def show_message(label: QLabel, text: str, *, error: bool = False) -> None:
    """A status line under a control: red for something the user has to fix, muted else."""
    label.setText(text)
    label.setStyleSheet(error_style() if error else NOTE_STYLE)
    label.setVisible(bool(text))


def message_label() -> QLabel:
    """An empty, wrapping, selectable status line (hidden until there is something to say)."""
    label = QLabel()
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setVisible(False)
    return label


def note_label(text: str) -> QLabel:
    """Muted explanatory text under a group of controls."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(NOTE_STYLE)
    return label
