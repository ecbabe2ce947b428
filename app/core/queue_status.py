"""The caption queue as the activity panel sees it: what failed and why, how much
is left, and the user's actions on it (pause, cancel, retry).

Qt-free so the same answers serve the GUI, the CLI and the tests; every function
here does disk or database work, so the GUI calls it on its background pool.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, LargeBinary, select, type_coerce

from app.core.jobs import CAPTION, PRIORITY_USER, JobQueue
from app.core.media.probe import probe
from app.core.os_errors import describe_os_error
from app.core.settings import Settings
from app.core.storage.db import Database
from app.core.storage.item_rows import (
    item_summary,
    library_counts,
    store_reprobes,
    unreadable_among,
)
from app.core.storage.queue_rows import failed_count, failed_rows
from app.core.storage.schema import Job, MediaItem
from app.core.storage.states import OPEN_JOB_STATES, ItemState, JobState

UNKNOWN_ERROR = "failed for an unknown reason"


@dataclass(frozen=True, slots=True)
class FailedItem:
    """An item that needs the user: its caption failed, or its file cannot be read."""

    item_id: int
    name: str
    path: str
    error: str
    when: float | None  # when the caption failed; None for an unreadable file
    unreadable: bool = False  # Retry reads the file again instead of re-captioning


@dataclass(frozen=True, slots=True)
class QueueCounts:
    queued: int = 0
    running: int = 0
    done: int = 0
    cancelled: int = 0
    failed: int = 0  # items needing attention (as `failed_items` lists), not failed jobs

    @property
    def waiting(self) -> int:
        return self.queued + self.running


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """Everything the panel shows from the database, read in one go."""

    counts: QueueCounts
    paused: bool
    failed: tuple[FailedItem, ...]
    items: int = 0  # in the library now
    captioned: int = 0  # of those, with a caption

    @property
    def all_captioned(self) -> bool:
        return self.items > 0 and self.captioned >= self.items


@dataclass(frozen=True, slots=True)
class CurrentItem:
    item_id: int
    name: str
    folder: str
    kind: str


@dataclass(frozen=True, slots=True)
class RetryResult:
    queued: int  # items whose caption job was queued again
    unreadable: int  # files that still cannot be read (their reason is updated)


@dataclass(frozen=True, slots=True)
class OpenJobRow:
    """A queued or running caption job, as `captionist queue list` shows it."""

    job_id: int
    item_id: int | None
    path: bytes | None  # None: its item is no longer in the database
    state: str
    priority: int
    params: dict[str, Any] | None


def open_jobs(db: Database, limit: int = -1) -> list[OpenJobRow]:
    """Running jobs first, then in the order the worker takes them (`limit` -1: all)."""
    stmt = (
        select(
            Job.id,
            Job.item_id,
            type_coerce(MediaItem.path, LargeBinary),
            Job.state,
            Job.priority,
            Job.params,
        )
        .outerjoin(MediaItem, MediaItem.id == Job.item_id)
        .where(Job.kind == CAPTION, Job.state.in_(OPEN_JOB_STATES))
        .order_by((Job.state == JobState.RUNNING).desc(), Job.priority.desc(), Job.id)
        .limit(limit)
    )
    with db.read() as conn:
        return [OpenJobRow(*row) for row in conn.execute(stmt)]


def failed_items(db: Database, limit: int = 500) -> list[FailedItem]:
    """Newest failures first, then unreadable files by name."""
    with db.read() as conn:
        return _failed_items(conn, limit)


def _failed_items(conn: Connection, limit: int) -> list[FailedItem]:
    return [
        FailedItem(
            item_id,
            name,
            os.fsdecode(path),
            error or UNKNOWN_ERROR,
            when,
            bool(unreadable),
        )
        for item_id, name, path, error, when, unreadable in failed_rows(conn, CAPTION, limit)
    ]


def queue_counts(db: Database) -> QueueCounts:
    counts = JobQueue(db).counts()
    with db.read() as conn:
        failed = failed_count(conn, CAPTION)
    return QueueCounts(
        queued=counts.get("queued", 0),
        running=counts.get("running", 0),
        done=counts.get("done", 0),
        cancelled=counts.get("cancelled", 0),
        failed=failed,
    )


def cancel_all(db: Database) -> int:
    """Cancel every queued and running caption job; a running one stops within a
    moment and drops its result. Returns how many were cancelled."""
    return JobQueue(db).cancel()


def current_item(db: Database, item_id: int) -> CurrentItem | None:
    with db.read() as conn:
        row = item_summary(conn, item_id)
    return CurrentItem(*row) if row else None


def retry(db: Database, item_ids: Sequence[int]) -> RetryResult:
    """Try these items again: failed captions are queued ahead of the background
    work; unreadable files are read again (the user may have fixed them) and queued
    if they now read."""
    ids = list(item_ids)
    with db.read() as conn:
        unreadable = unreadable_among(conn, ids)
    readable_again = _reprobe(db, unreadable)
    jobs = JobQueue(db)
    queued = jobs.retry_failed([i for i in ids if i not in {row[0] for row in unreadable}])
    jobs.enqueue(readable_again, priority=PRIORITY_USER)
    return RetryResult(queued + len(readable_again), len(unreadable) - len(readable_again))


def retry_all(db: Database) -> RetryResult:
    """Retry every item `failed_items` would list (not items that failed once and
    have been captioned since)."""
    with db.read() as conn:
        ids = [item.item_id for item in _failed_items(conn, limit=-1)]
    return retry(db, ids)


def _reprobe(db: Database, rows: Sequence[tuple[int, bytes, str]]) -> list[int]:
    """Read unreadable files again; store what was read. Returns the ids that now read."""
    good: list[int] = []
    updates: list[tuple[object, ...]] = []
    for item_id, path, kind in rows:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            updates.append((None,) * 7 + (ItemState.MISSING, None, item_id))
            continue
        except OSError as exc:
            updates.append((None,) * 7 + (ItemState.ERROR, describe_os_error(exc), item_id))
            continue
        result = probe(path, kind, stat.st_mtime_ns)
        if result.error is None:
            good.append(item_id)
        state = ItemState.ERROR if result.error else ItemState.OK
        updates.append((
            stat.st_size, stat.st_mtime_ns, result.fingerprint, result.width, result.height,
            result.duration, result.taken_at, state, result.error, item_id,
        ))  # fmt: skip
    if updates:
        with db.write() as conn:
            store_reprobes(conn, updates)
    return good


def set_paused(db: Database, paused: bool) -> None:
    """Persisted, so a pause survives restarts; the worker checks it between jobs."""
    Settings(db).set("queue_paused", paused)


def snapshot(db: Database, limit: int = 500) -> QueueSnapshot:
    """Counts, the pause setting, the failed list and the library's own totals (items,
    captioned): one background read per refresh."""
    counts = queue_counts(db)
    paused = Settings(db).read().queue_paused
    with db.read() as conn:
        library = library_counts(conn)
    return QueueSnapshot(
        counts,
        paused,
        tuple(failed_items(db, limit)),
        items=int(library[0]),
        captioned=int(library[3]),
    )


class QueueActions:
    """The panel's actions bound to one library database (called off the GUI thread)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def snapshot(self, limit: int = 500) -> QueueSnapshot:
        return snapshot(self.db, limit)

    def set_paused(self, paused: bool) -> None:
        set_paused(self.db, paused)

    def cancel_all(self) -> int:
        return cancel_all(self.db)

    def retry(self, item_ids: Sequence[int]) -> RetryResult:
        return retry(self.db, item_ids)

    def retry_all(self) -> RetryResult:
        return retry_all(self.db)

    def current_item(self, item_id: int) -> CurrentItem | None:
        return current_item(self.db, item_id)
