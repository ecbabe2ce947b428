"""Following changes in library folders, with periodic rescans where that fails.

Events arrive on watchdog's threads, often in floods: a camera import is thousands
of files, each reported as created, modified and closed. There they are only
recorded, coalesced per path, so the observer never waits for the disk or the
database. One processing thread hands them to `Indexer.index_changes` in batches,
once a path has been quiet for `debounce_s` and its size and modification time
have stopped changing, so that a file still being copied is indexed once, whole.

A folder that cannot be watched (inotify limits, a network or FUSE mount where
changes made elsewhere raise no events, an observer that died) is rescanned every
`rescan_interval_s` instead, starting at once so nothing is missed, and its watch
state tells the user why.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from watchdog.events import (
    EVENT_TYPE_ATTRIB,
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from app.core.library.filetypes import is_hidden_or_system, media_kind
from app.core.library.mounts import remote_filesystem
from app.core.library.pending_changes import PendingChanges
from app.core.library.reconcile import ScanReport
from app.core.library.roots import RootInfo, load_roots, root_for
from app.core.library.scanner import FsChanges
from app.core.storage.problems import StorageProblem

if TYPE_CHECKING:
    from app.core.library.library import Library

log = logging.getLogger(__name__)

# Only what can change the library. Leaving out "opened" and "closed without
# writing" keeps our own probe reads from echoing back as events; folder
# "modified" events are left out because each change inside has its own event.
WATCHED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
FILE_CHANGES = frozenset({EVENT_TYPE_MODIFIED, EVENT_TYPE_CLOSED, EVENT_TYPE_ATTRIB})

MIN_RESCAN_S = 1.0  # a zero or tiny interval must not turn into a busy loop
HEALTH_CHECK_S = 1.0  # how often an idle watcher checks that its observers live
WATCH_ERRORS = {
    errno.ENOSPC: "inotify watch limit reached",
    errno.EMFILE: "inotify instance limit reached",
    errno.ENFILE: "too many open files on the system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "folder not found",
}


# -- recording events (watchdog's threads) ------------------------------------------
class _EventRecorder(FileSystemEventHandler):
    """Runs on watchdog's thread for one root: records what changed, nothing more."""

    def __init__(
        self, root: bytes, pending: PendingChanges, wake: threading.Event, *, skip_hidden: bool
    ) -> None:
        self._root = root
        self._pending = pending
        self._wake = wake
        self._skip_hidden = skip_hidden

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            if self._record(event):
                self._wake.set()
        except Exception:  # an exception here would kill the observer thread
            log.exception("folder watcher: could not record %r", event)

    def _record(self, event: FileSystemEvent) -> bool:
        kind, is_dir = event.event_type, event.is_directory
        src = os.fsencode(event.src_path)
        if kind == EVENT_TYPE_MOVED:
            # watchdog follows a folder's move with one synthetic move per file in
            # it; the folder's own move already renames them all.
            return not event.is_synthetic and self._record_move(
                src, os.fsencode(event.dest_path), is_dir
            )
        if not self._wanted(src, is_dir):
            return False
        if kind == EVENT_TYPE_DELETED:
            self._pending.remove(src, is_dir=is_dir)
        elif kind == EVENT_TYPE_CREATED or (kind in FILE_CHANGES and not is_dir):
            self._pending.touch(src)
        else:
            return False
        return True

    def _record_move(self, src: bytes, dst: bytes, is_dir: bool) -> bool:
        src_wanted, dst_wanted = self._wanted(src, is_dir), self._wanted(dst, is_dir)
        if src_wanted and dst_wanted:
            self._pending.move(src, dst, is_dir=is_dir)
        elif dst_wanted:  # "IMG_1.jpg.part" -> "IMG_1.jpg", ".staging/" -> "Album/"
            self._pending.touch(dst)
        elif src_wanted:  # renamed to a name the library skips
            self._pending.remove(src, is_dir=is_dir)
        return src_wanted or dst_wanted

    def _wanted(self, path: bytes, is_dir: bool) -> bool:
        """Media files and folders, skipping what a scan skips (else the next scan
        would mark as missing what the watcher added)."""
        if not is_dir and media_kind(path) is None:
            return False
        if not self._skip_hidden:
            return True
        inside = path[len(self._root) :].split(os.sep.encode())
        return not any(is_hidden_or_system(part) for part in inside if part)


class _EventsLostAlarm(logging.Handler):
    """Hears watchdog report that the kernel dropped events (inotify queue overflow).

    watchdog only logs this, so its log record is the one signal there is; the only
    remedy for lost events is a rescan.
    """

    LOGGER = "watchdog.observers.inotify_c"
    MESSAGE = "Inotify queue overflowed"

    def __init__(self, on_lost: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self._on_lost = on_lost

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.MESSAGE):
            self._on_lost()

    def attach(self) -> None:
        logging.getLogger(self.LOGGER).addHandler(self)

    def detach(self) -> None:
        logging.getLogger(self.LOGGER).removeHandler(self)


# -- the watcher ------------------------------------------------------------------------


class LibraryWatcher:
    """Keeps the library in step with its folders while the app runs.

    `start` watches each root (or falls back to periodic rescans) and returns at
    once; all indexing happens on one background thread, which calls `on_report`
    after each batch and each rescan (a GUI must hand the report over to its own
    thread). `stop` ends it all.
    """

    def __init__(
        self,
        library: Library,
        *,
        debounce_s: float = 0.5,
        stable_s: float = 0.3,
        batch_size: int = 500,
        on_report: Callable[[ScanReport], None] | None = None,
        observer_factory: Callable[[], BaseObserver] | None = None,
    ) -> None:
        self._library = library
        self._batch_size = batch_size
        self._on_report = on_report
        self._observer_factory = observer_factory or Observer
        self._delays = (debounce_s, stable_s)
        self._tick = min(0.25, max(0.02, min(debounce_s, stable_s) / 2))
        self._pending = PendingChanges(debounce_s, stable_s)
        self._stopping = threading.Event()
        self._wake = threading.Event()  # set by every recorded event
        self._thread: threading.Thread | None = None
        self._roots: dict[int, RootInfo] = {}
        self._alarm = _EventsLostAlarm(self._rescan_watched_roots)
        # Shared with the processing thread; guarded by _cond.
        self._cond = threading.Condition()
        self._busy = False
        self._observers: dict[int, BaseObserver] = {}
        self._polling: set[int] = set()
        self._rescan_at: dict[int, float] = {}  # root id -> when (monotonic)

    # -- public API -----------------------------------------------------------------
    def start(self, root_ids: Iterable[int] | None = None) -> None:
        """Watch these roots (None: every enabled root).

        Watches are set up before this returns, so a change made afterwards is seen;
        that costs about one walk of the folders, none of the indexing.
        """
        if self._thread is not None:
            raise RuntimeError("the folder watcher is already running")
        self._stopping.clear()
        self._pending = PendingChanges(*self._delays)
        self._roots = self._load_roots(root_ids)
        skip_hidden = self._library.settings.read().skip_hidden
        try:
            for root in self._roots.values():
                self._watch(root, skip_hidden)
        except BaseException:  # say, the database is locked: leave no observer running
            self._stop_observers(time.monotonic() + 2.0)
            raise
        self._alarm.attach()
        self._thread = threading.Thread(target=self._run, name="library-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop watching and rescanning, join every thread, mark the roots "off"."""
        if self._thread is None:
            return
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        self._alarm.detach()
        self._stop_observers(deadline)
        if self._thread is not threading.current_thread():
            self._thread.join(max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive():
                log.warning("folder watcher: still finishing a batch after %.1f s", timeout)
        self._thread = None
        try:
            for root_id in self._roots:
                self._library.set_watch_state(root_id, "off", None)
        except StorageProblem as exc:  # a damaged or read-only library: still stop
            log.warning("folder watcher: could not record that watching stopped: %s", exc)
        with self._cond:
            self._polling.clear()
            self._rescan_at.clear()

    def wait_idle(self, timeout: float) -> bool:
        """True once no change is waiting and nothing is being indexed or rescanned.

        An event the kernel has not delivered yet is not waiting: callers that just
        wrote a file should first wait for its effect, then for idleness.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._is_idle():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    # -- setting up and tearing down ---------------------------------------------------
    def _load_roots(self, root_ids: Iterable[int] | None) -> dict[int, RootInfo]:
        with self._library.db.read() as conn:
            enabled = {root.id: root for root in load_roots(conn)}
        if root_ids is None:
            return enabled
        wanted = {}
        for root_id in root_ids:
            if root_id not in enabled:
                raise ValueError(f"no enabled library folder with id {root_id}")
            wanted[root_id] = enabled[root_id]
        return wanted

    def _watch(self, root: RootInfo, skip_hidden: bool) -> None:
        fstype = remote_filesystem(root.path)
        if fstype is not None:
            kind = "FUSE" if fstype.startswith("fuse") else "network"
            self._fall_back(root.id, f"{kind} folder ({fstype})")
            return
        try:
            observer = self._start_observer(root, skip_hidden)
        except Exception as exc:
            log.warning("folder watcher: cannot watch %r: %r", root.path, exc)
            self._fall_back(root.id, _describe_failure(exc))
            return
        with self._cond:
            self._observers[root.id] = observer
        self._library.set_watch_state(root.id, "watching", None)

    def _start_observer(self, root: RootInfo, skip_hidden: bool) -> BaseObserver:
        observer = self._observer_factory()
        recorder = _EventRecorder(root.path, self._pending, self._wake, skip_hidden=skip_hidden)
        try:
            # inotify's limits surface here: in schedule() or, as watches are added
            # when the observer starts, in start().
            observer.schedule(
                recorder, os.fsdecode(root.path), recursive=True, event_filter=WATCHED_EVENTS
            )
            observer.start()
        except BaseException:
            _dispose(observer, 1.0)
            raise
        return observer

    def _fall_back(self, root_id: int, reason: str) -> None:
        """Rescan this root periodically instead, the first time right away: events
        may have been missed before the failure."""
        every = _every(self._rescan_interval())
        note = f"folder watching unavailable ({reason}); rescanning {every}"
        log.warning("folder watcher: root %d: %s", root_id, note)
        self._library.set_watch_state(root_id, "polling", note)
        with self._cond:
            self._polling.add(root_id)
            self._rescan_at[root_id] = time.monotonic()
        self._wake.set()

    def _stop_observers(self, deadline: float) -> None:
        with self._cond:
            observers, self._observers = list(self._observers.values()), {}
        for observer in observers:
            _dispose(observer, max(0.0, deadline - time.monotonic()))

    def _rescan_interval(self) -> float:
        return max(MIN_RESCAN_S, self._library.settings.read().rescan_interval_s)

    # -- the processing thread ------------------------------------------------------
    def _run(self) -> None:
        self._check_coverage()
        while not self._stopping.is_set():
            try:
                self._check_observers()
                worked = self._rescan_due_roots()
                worked = self._index_next_batch() or worked
            except Exception:  # keep watching whatever went wrong
                log.exception("folder watcher: unexpected error")
                self._stopping.wait(1.0)
                continue
            if not worked:
                self._sleep()

    def _sleep(self) -> None:
        if not self._pending.is_empty():
            self._stopping.wait(self._tick)  # changes are settling: look again soon
            return
        self._wake.clear()
        if self._pending.is_empty():  # an event recorded since sets _wake again
            with self._cond:
                next_rescan = min(self._rescan_at.values(), default=float("inf"))
            self._wake.wait(max(0.0, min(HEALTH_CHECK_S, next_rescan - time.monotonic())))

    def _check_observers(self) -> None:
        """An observer thread that died (say, its root was deleted or unmounted)
        hears nothing more: rescan that root instead."""
        with self._cond:
            dead = [r for r, o in self._observers.items() if not _is_running(o)]
            observers = [self._observers.pop(r) for r in dead]
        for root_id, observer in zip(dead, observers, strict=True):
            _dispose(observer, 1.0)
            if not self._stopping.is_set():
                self._fall_back(root_id, "the folder watcher stopped unexpectedly")

    def _check_coverage(self) -> None:
        """Fall back where watchdog silently left a subfolder unwatched.

        Its inotify backend raises only when the root itself cannot be watched; a
        subfolder over the watch limit is skipped without a word, and changes in it
        would be missed for good. Checked once, after start (it walks the folders).
        """
        with self._cond:
            watched = list(self._observers.items())
        for root_id, observer in watched:
            folder = self._unwatched_folder(observer, self._roots[root_id].path)
            if folder is None:
                continue
            log.warning("folder watcher: %r is not watched", folder)
            with self._cond:
                self._observers.pop(root_id, None)
            _dispose(observer, 1.0)
            self._fall_back(root_id, "inotify watch limit reached for some subfolders")

    def _unwatched_folder(self, observer: BaseObserver, root: bytes) -> bytes | None:
        folder = _unwatched_folder(observer, root)
        # A folder created a moment ago may not be watched yet: look again.
        if folder is None or self._stopping.wait(1.0):
            return None
        return _unwatched_folder(observer, folder, itself=True)

    def _rescan_due_roots(self) -> bool:
        now = time.monotonic()
        with self._cond:
            due = [root_id for root_id, at in self._rescan_at.items() if at <= now]
            for root_id in due:
                del self._rescan_at[root_id]
            self._busy = bool(due)
        try:
            for root_id in due:
                if not self._stopping.is_set():
                    self._rescan(root_id)
        finally:
            self._set_idle()
        return bool(due)

    def _rescan(self, root_id: int) -> None:
        try:
            report = self._library.scan(root_id, should_stop=self._stopping.is_set)
        except Exception:
            log.exception("folder watcher: rescan of root %d failed", root_id)
        else:
            self._deliver(report)
        with self._cond:
            if root_id in self._polling:
                self._rescan_at[root_id] = time.monotonic() + self._rescan_interval()

    def _index_next_batch(self) -> bool:
        with self._cond:
            self._busy = True  # before taking, so wait_idle never sees a gap
        try:
            changes = self._pending.take_batch(self._batch_size)
            if changes:
                self._index(changes)
            return bool(changes)
        finally:
            self._set_idle()

    def _index(self, changes: FsChanges) -> None:
        try:
            report = self._library.indexer.index_changes(changes, should_stop=self._stopping.is_set)
        except Exception:
            # Not lost: a rescan of the roots involved reconciles them from disk.
            log.exception("folder watcher: could not index a batch; rescanning instead")
            self._rescan_soon(self._roots_of(changes))
            return
        self._deliver(report)

    def _deliver(self, report: ScanReport) -> None:
        if self._on_report is None:
            return
        try:
            self._on_report(report)
        except Exception:
            log.exception("folder watcher: on_report failed")

    # -- helpers ----------------------------------------------------------------------
    def _is_idle(self) -> bool:
        """Caller holds _cond (so _busy cannot flip while the queue is checked)."""
        now = time.monotonic()
        overdue = any(at <= now for at in self._rescan_at.values())
        return not self._busy and not overdue and self._pending.is_empty()

    def _set_idle(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def _rescan_soon(self, root_ids: Iterable[int]) -> None:
        now = time.monotonic()
        with self._cond:
            for root_id in root_ids:
                self._rescan_at[root_id] = min(self._rescan_at.get(root_id, now), now)
        self._wake.set()

    def _rescan_watched_roots(self) -> None:
        """Events were lost: the watched roots stay watched but get a rescan."""
        with self._cond:
            watched = list(self._observers)
        self._rescan_soon(watched)

    def _roots_of(self, changes: FsChanges) -> set[int]:
        roots = list(self._roots.values())
        paths = [*changes.touched, *changes.removed, *(p for move in changes.moved for p in move)]
        return {root.id for path in paths if (root := root_for(path, roots)) is not None}


# -- observers, filesystems and words ---------------------------------------------------


def _is_running(observer: BaseObserver) -> bool:
    emitters = getattr(observer, "emitters", ())
    return observer.is_alive() and all(emitter.is_alive() for emitter in emitters)


def _unwatched_folder(observer: BaseObserver, top: bytes, *, itself: bool = False) -> bytes | None:
    """A readable folder below `top` (or `top` itself) that the observer does not
    watch, if its internals tell (watchdog's inotify backend); else None."""
    watched = _inotify_watched_paths(observer)
    if watched is None:
        return None
    if itself:
        return top if _watchable(top) and top not in watched else None
    for folder, names, _files in os.walk(top):
        for name in names:
            path = os.path.join(folder, name)
            if path not in watched and _watchable(path):
                return path
    return None


def _inotify_watched_paths(observer: BaseObserver) -> dict[bytes, object] | None:
    """The folders watchdog's inotify emitter watches (private API, read-only)."""
    for emitter in getattr(observer, "emitters", ()):
        group = getattr(emitter, "_inotify", None)
        watched = getattr(group, "_active_callbacks_by_path", None)
        if isinstance(watched, dict):
            return watched
    return None


def _watchable(path: bytes) -> bool:
    """Folders watchdog would watch: not symlinks, and readable (else no scan can
    read them either)."""
    return os.path.isdir(path) and not os.path.islink(path) and os.access(path, os.R_OK)


def _dispose(observer: BaseObserver, timeout: float) -> None:
    """Stop an observer, started or not (inotify's starts a thread when created)."""
    try:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout)
    except Exception:
        log.exception("folder watcher: could not stop an observer")


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return WATCH_ERRORS.get(exc.errno or 0) or exc.strerror or str(exc) or "system error"
    return f"watcher error: {exc.__class__.__name__}: {exc}"


def _every(seconds: float) -> str:
    if seconds < 90:
        return f"every {round(seconds)} s"
    if seconds < 2 * 3600:
        return f"every {round(seconds / 60)} min"
    return f"every {round(seconds / 3600, 1):g} h"
