"""A note of the rows being embedded, so that a native crash in llama.cpp (which no
`except` catches) is not repeated on the same caption forever: the worker restarts,
finds the note, embeds that batch's rows one at a time, and skips a row that crashed
on its own. The note is a small JSON file in the data directory, written atomically
before each embedding call and removed after it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "embedding-in-flight.json"


class CrashGuard:
    def __init__(self, folder: Path | None) -> None:
        """`folder` None: no note (tests, one-off runs without a data directory)."""
        self._path = folder / FILE_NAME if folder is not None else None

    def left_behind(self) -> list[int]:
        """The rows of a call that never returned (read once, at start)."""
        if self._path is None:
            return []
        try:
            keys = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            log.warning("unreadable %s ignored", self._path)
            return []
        self._forget()
        if not isinstance(keys, list):
            return []
        return [key for key in keys if isinstance(key, int)]

    @contextlib.contextmanager
    def holding(self, keys: Sequence[int]) -> Iterator[None]:
        if self._path is None:
            yield
            return
        partial = self._path.with_suffix(".partial")
        try:
            partial.write_text(json.dumps(list(keys)), encoding="utf-8")
            os.replace(partial, self._path)
        except OSError:
            log.warning("could not write %s (a crash would repeat)", self._path)
        try:
            yield
        finally:  # a Python exception is no crash: only a native one leaves the note
            self._forget()

    def _forget(self) -> None:
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()
