"""Filesystem events waiting to be indexed, coalesced per path (thread-safe).

Filled on watchdog's threads by the folder watcher, emptied in batches by its
processing thread.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from app.core.library.roots import is_within
from app.core.library.scanner import FsChanges

Look = tuple[bool, int, int]  # (is a folder, size, mtime_ns)


@dataclass
class _Touch:
    """A created or modified path: when it last changed and how it last looked."""

    last_event: float
    look: Look | None = None
    looked_at: float = 0.0


class PendingChanges:
    """Events recorded but not yet indexed, coalesced per path. Thread-safe.

    Recording is cheap and never touches the disk, so the observer thread is never
    slowed down. A path is released for indexing once it has had no event for
    `debounce_s` and looked the same (size, mtime) on two looks `stable_s` apart.
    Moves are released in the order they happened, and before any later change,
    because each one renames rows that later changes may refer to.
    """

    def __init__(
        self, debounce_s: float, stable_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._debounce_s = debounce_s
        self._stable_s = stable_s
        self._clock = clock
        self._lock = threading.Lock()
        self._touched: dict[bytes, _Touch] = {}
        self._removed: dict[bytes, float] = {}
        self._moves: deque[tuple[bytes, bytes, float]] = deque()

    # -- recording ------------------------------------------------------------------
    def touch(self, path: bytes) -> None:
        """A file or folder was created or written: created+modified+closed is one touch."""
        with self._lock:
            now = self._clock()
            self._removed.pop(path, None)
            entry = self._touched.get(path)
            if entry is None:
                self._touched[path] = _Touch(now)
            else:
                entry.last_event = now

    def remove(self, path: bytes, *, is_dir: bool) -> None:
        """Gone. A file created and deleted before indexing leaves a harmless removal."""
        with self._lock:
            for old in self._touched_at(path, is_dir):
                del self._touched[old]
            self._removed[path] = self._clock()

    def move(self, src: bytes, dst: bytes, *, is_dir: bool) -> None:
        """Renamed: pending touches follow the path, the move itself is queued in order."""
        with self._lock:
            now = self._clock()
            for old in self._touched_at(src, is_dir):
                entry = self._touched.pop(old)
                entry.last_event = now
                self._touched[dst + old[len(src) :]] = entry
            self._moves.append((src, dst, now))

    def _touched_at(self, path: bytes, is_dir: bool) -> list[bytes]:
        if not is_dir:  # the common case, kept O(1) for bursts of file events
            return [path] if path in self._touched else []
        return [p for p in self._touched if is_within(p, path)]

    def is_empty(self) -> bool:
        with self._lock:
            return not (self._touched or self._removed or self._moves)

    # -- releasing --------------------------------------------------------------------
    def take_batch(self, limit: int) -> FsChanges:
        """Remove and return up to `limit` changes that are ready to be indexed."""
        now = self._clock()
        quiet_since = now - self._debounce_s
        with self._lock:
            moves = self._take_moves(quiet_since, limit)
            if self._moves:  # later changes wait until the earlier moves are applied
                return FsChanges(moved=moves)
            removed = self._take_removed(quiet_since, limit - len(moves))
            candidates = [(p, e) for p, e in self._touched.items() if e.last_event <= quiet_since]
        # Looking at files (stat) happens outside the lock: the disk may be slow.
        settled = [(p, e) for p, e in candidates if self._settled(p, e, now)]
        touched = self._take_touched(settled, quiet_since, limit - len(moves) - len(removed))
        return FsChanges(touched=_outermost(touched), removed=removed, moved=moves)

    def _take_moves(self, quiet_since: float, limit: int) -> list[tuple[bytes, bytes]]:
        moves: list[tuple[bytes, bytes]] = []
        while self._moves and len(moves) < limit and self._moves[0][2] <= quiet_since:
            src, dst, _at = self._moves.popleft()
            moves.append((src, dst))
        return moves

    def _take_removed(self, quiet_since: float, limit: int) -> set[bytes]:
        ready = [p for p, at in self._removed.items() if at <= quiet_since][: max(limit, 0)]
        for path in ready:
            del self._removed[path]
        return set(ready)

    def _take_touched(
        self, settled: list[tuple[bytes, _Touch]], quiet_since: float, limit: int
    ) -> list[tuple[bytes, _Touch]]:
        taken: list[tuple[bytes, _Touch]] = []
        with self._lock:
            if self._moves:  # a move arrived while we looked: it goes first
                return taken
            for path, entry in settled:
                if len(taken) >= limit:
                    break
                # An event may have arrived (or the path moved) while we looked.
                if self._touched.get(path) is entry and entry.last_event <= quiet_since:
                    del self._touched[path]
                    taken.append((path, entry))
        return taken

    def _settled(self, path: bytes, entry: _Touch, now: float) -> bool:
        """True once the path looked the same twice, `stable_s` apart (or is gone).

        Events alone cannot tell that a copy is finished: a slow writer (a network
        share, a camera over USB) can pause longer than the debounce delay.
        """
        look = _look(path)
        if look is None:
            return True  # gone again: index_changes records it as removed
        if look != entry.look:
            entry.look, entry.looked_at = look, now
            return False
        return now - entry.looked_at >= self._stable_s


def _look(path: bytes) -> Look | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return stat.S_ISDIR(st.st_mode), st.st_size, st.st_mtime_ns


def _outermost(touched: list[tuple[bytes, _Touch]]) -> set[bytes]:
    """Drop paths inside a folder of the same batch: indexing walks that folder
    anyway, and would otherwise see those files twice."""
    folders = {p for p, e in touched if e.look is not None and e.look[0]}
    return {p for p, _e in touched if not _inside_any(p, folders)}


def _inside_any(path: bytes, folders: set[bytes]) -> bool:
    while folders:
        parent = os.path.dirname(path)
        if parent == path:
            return False
        if parent in folders:
            return True
        path = parent
    return False
