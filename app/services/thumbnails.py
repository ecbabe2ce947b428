"""Gallery thumbnails for the views: RAM cache -> disk cache -> render stack (calibre's
scheme), without ever waiting on disk in the GUI thread.

A delegate asks `cached()` while painting (a dict lookup) and, on a miss, `request()`s
the item. Requests go on a stack served newest-first by a small thread pool, so what
the user scrolled to last is drawn first, and a request repeated while it waits just
moves back to the top. Workers make or read the JPEG (app.core.media.thumbnails) and
load it into a QImage, which is safe off the GUI thread; the GUI thread turns it into
a QPixmap, which is not. A result for a file version no longer wanted (the file
changed while it was rendering) is dropped, never shown.

Failures are remembered per file version, so a delegate that repaints after a failure
does not ask for the same broken file over and over; a new mtime tries again.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Qt, QThread, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage, QPixmap

from app.core.media.errors import MediaError
from app.core.media.thumbnails import DEFAULT_SIDE, Kind, make_thumbnail
from app.core.os_errors import describe_os_error

__all__ = ["MakeThumbnail", "ThumbnailService", "pixmap_bytes"]

log = logging.getLogger(__name__)

# (cache_dir, path, mtime_ns, size, kind, side) -> the cached JPEG; make_thumbnail's shape.
MakeThumbnail = Callable[[Path, bytes | str, int, int, Kind, int], Path]

# The RAM cache holds a few screens of full-size (256 px) thumbnails, whatever the
# library's size: ~250-330 of them. Scrolling back a long way reads the disk cache again
# (a ~15 KB JPEG, off the GUI thread).
RAM_ENTRIES = 600
RAM_BYTES = 64 * 1024 * 1024
FAILURES_KEPT = 10_000
# Requests waiting at most: more than a screenful at the smallest zoom. A fast scroll
# through a long list asks for every cell it passes; the oldest of those are dropped
# (whatever is painted again asks again), so neither the queue nor the renders behind
# it grow with the library.
MAX_QUEUED = 256


@dataclass(frozen=True, slots=True)
class _Request:
    item_id: int
    path: bytes | str
    mtime_ns: int
    size: int
    kind: Kind


@dataclass(frozen=True, slots=True)
class _Result:
    item_id: int
    mtime_ns: int
    image: QImage | None
    error: str = ""


class _Drain(QRunnable):
    """One pool thread's loop: take the newest request until none are left.

    A loop over a shared stack rather than one QRunnable per request, because
    QThreadPool serves its own queue first-in first-out."""

    def __init__(self, service: ThumbnailService) -> None:
        super().__init__()
        self._service = service

    def run(self) -> None:
        self._service._drain()


class ThumbnailService(QObject):
    """Thumbnails for item ids, made off the GUI thread and handed back as QImages.

    Call shutdown() before the application quits: it drops what is queued and waits
    for the renders in progress."""

    thumbnail_ready = Signal(int, QImage)  # item_id, image (already in the RAM cache)
    thumbnail_failed = Signal(int, str)  # item_id, reason for the user
    _finished = Signal(object)  # _Result, from a pool thread to the GUI thread

    def __init__(
        self,
        cache_dir: Path,
        parent: QObject | None = None,
        *,
        side: int = DEFAULT_SIDE,
        threads: int = 2,
        ram_entries: int = RAM_ENTRIES,
        ram_bytes: int = RAM_BYTES,
        max_queued: int = MAX_QUEUED,
        make: MakeThumbnail = make_thumbnail,
    ) -> None:
        super().__init__(parent)
        self._cache_dir = Path(cache_dir)
        self._side = side
        self._make = make
        self._threads = max(1, threads)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(self._threads)
        # Below the GUI thread: decoding must never make scrolling wait for a CPU.
        self._pool.setThreadPriority(QThread.Priority.LowPriority)
        # Shared with the pool threads, under _lock.
        self._lock = threading.Lock()
        self._stack: OrderedDict[int, _Request] = OrderedDict()  # last = served next
        self._in_flight: set[tuple[int, int]] = set()  # (item_id, mtime_ns)
        self._workers = 0
        self._closed = False
        # GUI thread only.
        self._wanted: dict[int, int] = {}  # item_id -> mtime_ns of its newest request
        self._pixmaps: OrderedDict[int, tuple[int, QPixmap]] = OrderedDict()
        self._pixmap_bytes = 0
        self._ram_entries = max(1, ram_entries)
        self._ram_bytes = ram_bytes
        self._max_queued = max(1, max_queued)
        self._failures: OrderedDict[int, tuple[int, str]] = OrderedDict()
        self.stale_dropped = 0  # results thrown away because their file had changed
        self._finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)

    # -- the GUI side ---------------------------------------------------------------------
    def cached(self, item_id: int, mtime_ns: int) -> QPixmap | None:
        """The thumbnail already in memory for this version of the item, else None.
        Cheap enough to call from a delegate's paint()."""
        entry = self._pixmaps.get(item_id)
        if entry is None or entry[0] != mtime_ns:  # another version of the file
            return None  # (kept: the caller may be the one out of date; LRU will evict)
        self._pixmaps.move_to_end(item_id)
        return entry[1]

    def failure(self, item_id: int, mtime_ns: int) -> str | None:
        """Why this version of the item has no thumbnail, if it failed."""
        entry = self._failures.get(item_id)
        return entry[1] if entry is not None and entry[0] == mtime_ns else None

    def request(
        self, item_id: int, path: bytes | str, mtime_ns: int, size: int, kind: Kind
    ) -> None:
        """Queue a thumbnail on top of the stack (or move it there if already queued).

        No-op when cached() has it, when this version already failed, while it is being
        rendered, and after shutdown(). Never touches the disk itself."""
        if self._closed:
            return
        entry = self._pixmaps.get(item_id)
        if entry is not None and entry[0] == mtime_ns:
            return
        if self.failure(item_id, mtime_ns) is not None:
            return
        self._wanted[item_id] = mtime_ns
        with self._lock:
            if (item_id, mtime_ns) in self._in_flight:
                return
            self._stack[item_id] = _Request(item_id, path, mtime_ns, size, kind)
            self._stack.move_to_end(item_id)
            dropped: list[int] = []
            while len(self._stack) > self._max_queued:
                dropped.append(self._stack.popitem(last=False)[0])
            start = self._workers < self._threads
            if start:
                self._workers += 1
        for old in dropped:
            self._wanted.pop(old, None)
        if start:
            self._pool.start(_Drain(self))

    def forget_except(self, item_ids: Iterable[int]) -> int:
        """Drop queued requests for items not in `item_ids` (those no longer visible).
        Renders already running finish and are cached. Returns how many were dropped."""
        keep = set(item_ids)
        with self._lock:
            dropped = [i for i in self._stack if i not in keep]
            for item_id in dropped:
                del self._stack[item_id]
        for item_id in dropped:
            self._wanted.pop(item_id, None)
        return len(dropped)

    def cancel_pending(self) -> int:
        """Drop every queued request (a new folder or search replaced the view)."""
        return self.forget_except(())

    def cache_size(self) -> tuple[int, int, int]:
        """(pixmaps in the RAM cache, their bytes, requests queued): for tests and the
        benchmark."""
        with self._lock:
            queued = len(self._stack)
        return len(self._pixmaps), self._pixmap_bytes, queued

    @property
    def pending(self) -> int:
        """Requests queued or being rendered."""
        with self._lock:
            return len(self._stack) + len(self._in_flight)

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Drop the queue and wait for renders in progress; True if all finished.
        Results still on their way to the GUI thread are ignored."""
        with self._lock:
            self._closed = True
            self._stack.clear()
        self._wanted.clear()
        return self._pool.waitForDone(timeout_ms)

    @Slot(object)
    def _on_finished(self, result: _Result) -> None:
        with self._lock:
            self._in_flight.discard((result.item_id, result.mtime_ns))
        if self._closed:
            return
        wanted = self._wanted.get(result.item_id)
        if wanted is not None and wanted != result.mtime_ns:
            self.stale_dropped += 1  # a newer version is queued or rendering
            return
        self._wanted.pop(result.item_id, None)
        if result.image is None:
            self._failures[result.item_id] = (result.mtime_ns, result.error)
            self._failures.move_to_end(result.item_id)
            while len(self._failures) > FAILURES_KEPT:
                self._failures.popitem(last=False)
            self.thumbnail_failed.emit(result.item_id, result.error)
            return
        self._failures.pop(result.item_id, None)
        self._store(result.item_id, result.mtime_ns, QPixmap.fromImage(result.image))
        self.thumbnail_ready.emit(result.item_id, result.image)

    def _store(self, item_id: int, mtime_ns: int, pixmap: QPixmap) -> None:
        self._evict(item_id)
        self._pixmaps[item_id] = (mtime_ns, pixmap)
        self._pixmap_bytes += pixmap_bytes(pixmap)
        while len(self._pixmaps) > 1 and (
            len(self._pixmaps) > self._ram_entries or self._pixmap_bytes > self._ram_bytes
        ):
            self._evict(next(iter(self._pixmaps)))  # least recently used

    def _evict(self, item_id: int) -> None:
        entry = self._pixmaps.pop(item_id, None)
        if entry is not None:
            self._pixmap_bytes -= pixmap_bytes(entry[1])

    # -- the pool side --------------------------------------------------------------------
    def _drain(self) -> None:
        while True:
            with self._lock:
                if self._closed or not self._stack:
                    self._workers -= 1
                    return
                _, request = self._stack.popitem(last=True)
                self._in_flight.add((request.item_id, request.mtime_ns))
            self._finished.emit(self._render(request))

    def _render(self, request: _Request) -> _Result:
        """Never raises: whatever goes wrong becomes a reason for the user."""
        item_id, mtime_ns = request.item_id, request.mtime_ns
        try:
            file = self._file(request)
            image = _load(file)
            if image is None:  # the cached JPEG is damaged: make it once more
                file.unlink(missing_ok=True)
                image = _load(self._file(request))
            if image is None:
                return _Result(item_id, mtime_ns, None, "thumbnail could not be read back")
            return _Result(item_id, mtime_ns, image)
        except MediaError as exc:
            return _Result(item_id, mtime_ns, None, exc.reason)
        except OSError as exc:  # the cache, not the photo: full disk, read-only folder
            reason = f"thumbnail cache not usable ({describe_os_error(exc)})"
            return _Result(item_id, mtime_ns, None, reason)
        except Exception as exc:  # a decoder bug must not kill the pool thread
            log.exception("thumbnail of item %s failed", item_id)
            return _Result(item_id, mtime_ns, None, f"thumbnail failed ({exc})")

    def _file(self, request: _Request) -> Path:
        """The cached JPEG, made now if it is not there yet."""
        return self._make(
            self._cache_dir,
            request.path,
            request.mtime_ns,
            request.size,
            request.kind,
            self._side,
        )


def _load(file: Path) -> QImage | None:
    """The JPEG as a QImage, or None if it does not decode (damaged cache file)."""
    # loadFromData, not QImage.fromData: the binding takes the format only as a str, which
    # the stubs give fromData as bytes (b"JPG" raises ValueError at run time).
    image = QImage()
    image.loadFromData(file.read_bytes(), "JPG")
    return None if image.isNull() else image


def pixmap_bytes(pixmap: QPixmap) -> int:
    """The memory a pixmap's pixels take."""
    return pixmap.width() * pixmap.height() * max(1, pixmap.depth()) // 8
