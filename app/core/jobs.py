"""The persistent job queue (caption jobs today).

The queue lives in the database so it survives crashes: a worker claims a job by
flipping it to "running" in one statement, and `recover_interrupted` puts jobs a
dead worker left running back in the queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    ScalarSelect,
    Select,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.sql.dml import ReturningUpdate

from app.core.storage.bulk import chunks
from app.core.storage.db import Database, now
from app.core.storage.schema import Job
from app.core.storage.states import OPEN_JOB_STATES, JobState

CAPTION = "caption"
OPEN_STATES = OPEN_JOB_STATES
PRIORITY_BACKGROUND = 0
PRIORITY_USER = 100  # "Caption this": ahead of everything the scanner queued
# Re-captioning a whole view or search ("Caption again with…" → All N, `caption
# --query`): below "Caption this", so the photo the user points at next still jumps
# ahead of a 50,000-item re-caption; above the scanner's backlog, because `enqueue`
# gives an open job the new parameters only when it raises its priority: at the
# scanner's own priority an item already waiting would keep the default prompt and
# model and silently ignore the one the user chose.
PRIORITY_BULK = 50
BULK_BATCH = 2000  # items per write transaction when queueing a large set
# A job whose worker died under it is tried again; after two such crashes it gets
# one more try in the engine's safe mode (greedy, no custom logits processor), and
# only a crash in that mode too marks it failed.
SAFE_MODE_ATTEMPT = 3
MAX_CRASHES = SAFE_MODE_ATTEMPT
CRASHED_REPEATEDLY = (
    "the captioning engine crashed on this file three times (a native crash or out of "
    "memory): twice with the usual settings and once more in a safe mode (greedy "
    "sampling, no string-length limiter); skipped so the rest of the library gets captioned"
)


@dataclass(frozen=True, slots=True)
class OpenJob:
    """An item's open job, and what it was queued with (to restore: `JobQueue.withdraw`)."""

    id: int
    priority: int
    params: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    item_id: int | None
    attempts: int
    params: dict[str, Any] | None
    priority: int = PRIORITY_BACKGROUND

    @property
    def safe_mode(self) -> bool:
        """Whether the engine crashed on this job's file twice already: this try is the
        last, in the engine's safe mode."""
        return self.attempts >= SAFE_MODE_ATTEMPT


def enqueue(
    conn: Connection,
    item_ids: Iterable[int],
    *,
    kind: str = CAPTION,
    priority: int = PRIORITY_BACKGROUND,
    params: dict[str, Any] | None = None,
) -> None:
    """Queue a job per item; an item that already has an open job keeps one, and
    its priority is raised if this request is more urgent."""
    ids = list(item_ids)
    if not ids:
        return
    stamp = now()
    rows = [
        dict(
            kind=kind,
            item_id=i,
            priority=priority,
            state=JobState.QUEUED,
            attempts=0,
            params=params,
            created_at=stamp,
            updated_at=stamp,
        )
        for i in ids
    ]
    conn.execute(insert(Job).on_conflict_do_nothing(), rows)
    for chunk in chunks(ids):
        conn.execute(
            update(Job)
            .where(
                Job.kind == kind,
                Job.state == JobState.QUEUED,
                Job.item_id.in_(chunk),
                Job.priority < priority,
            )
            .values(priority=priority, params=params, updated_at=stamp)
        )


def claim_next_job(
    conn: Connection, kind: str = CAPTION, *, min_priority: int | None = None
) -> ClaimedJob | None:
    """`JobQueue.claim_next` inside the caller's write transaction (the worker reads
    what it needs for the job in the same one)."""
    row = conn.execute(_claim(kind, min_priority), {"stamp": now()}).first()
    return ClaimedJob(*row) if row else None


def claim_jobs(
    conn: Connection, n: int, kind: str = CAPTION, *, min_priority: int | None = None
) -> list[ClaimedJob]:
    """Up to `n` jobs, most urgent first, inside the caller's write transaction: the
    pool claims a batch sized to its free slots in one transaction. Each claim is the
    same two index seeks as `claim_next_job`, so a batch costs n seeks, not a sort."""
    claimed: list[ClaimedJob] = []
    stamp = {"stamp": now()}
    statement = _claim(kind, min_priority)
    for _ in range(n):
        row = conn.execute(statement, stamp).first()
        if row is None:
            break
        claimed.append(ClaimedJob(*row))
    return claimed


class JobQueue:
    def __init__(self, db: Database) -> None:
        self._db = db

    def enqueue(self, item_ids: Iterable[int], **kwargs: Any) -> None:
        with self._db.write() as conn:
            enqueue(conn, item_ids, **kwargs)

    def enqueue_in_batches(
        self,
        item_ids: Sequence[int],
        *,
        batch: int = BULK_BATCH,
        on_batch: Callable[[int], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """`enqueue`, a transaction per batch: queueing 50,000 items holds the single
        writer for tens of ms at a time, so the worker stores captions and the window
        saves edits in between. `on_batch` hears how many are queued so far."""
        for start in range(0, len(item_ids), batch):
            self.enqueue(item_ids[start : start + batch], **kwargs)
            if on_batch is not None:
                on_batch(min(start + batch, len(item_ids)))

    def claim_next(
        self, kind: str = CAPTION, *, min_priority: int | None = None
    ) -> ClaimedJob | None:
        """Atomically take the most urgent queued job (highest priority, then oldest)."""
        with self._db.write() as conn:
            return claim_next_job(conn, kind, min_priority=min_priority)

    def finish(self, job_id: int, *, error: str | None = None) -> None:
        stamp = now()
        with self._db.write() as conn:
            conn.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(
                    state=JobState.FAILED if error else JobState.DONE,
                    last_error=error,
                    finished_at=stamp,
                    updated_at=stamp,
                )
            )

    def cancel(self, item_ids: Sequence[int] | None = None, kind: str = CAPTION) -> int:
        """Cancel open jobs (of these items, or all). A running job's worker notices
        within a moment, stops generating and drops its result."""
        stmt = update(Job).where(Job.state.in_(OPEN_STATES), Job.kind == kind)
        if item_ids is not None:
            stmt = stmt.where(Job.item_id.in_(item_ids))
        with self._db.write() as conn:
            return conn.execute(stmt.values(state=JobState.CANCELLED, updated_at=now())).rowcount

    def recover_interrupted(self, *, max_crashes: int = MAX_CRASHES) -> tuple[int, int]:
        """After a worker died: requeue the jobs it left running, except those that
        have now been running when it died `max_crashes` times — those failed the
        engine itself (a native crash, out of memory) and are marked failed.

        Returns (requeued, failed). Call only while no worker is alive.
        """
        stamp = now()
        with self._db.write() as conn:
            failed = conn.execute(
                update(Job)
                .where(Job.state == JobState.RUNNING, Job.attempts >= max_crashes)
                .values(
                    state=JobState.FAILED,
                    last_error=CRASHED_REPEATEDLY,
                    finished_at=stamp,
                    updated_at=stamp,
                )
            ).rowcount
            requeued = conn.execute(
                update(Job)
                .where(Job.state == JobState.RUNNING)
                .values(state=JobState.QUEUED, updated_at=stamp)
            ).rowcount
        return requeued, failed

    def release(self, job_id: int) -> None:
        """Put back a job the worker stopped on purpose (pause, shutdown): not a crash."""
        with self._db.write() as conn:
            conn.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.RUNNING)
                .values(state=JobState.QUEUED, attempts=Job.attempts - 1, updated_at=now())
            )

    def open_jobs(self, item_ids: Sequence[int], kind: str = CAPTION) -> dict[int, OpenJob]:
        """The queued or running job of each of these items that has one."""
        found: dict[int, OpenJob] = {}
        with self._db.read() as conn:
            for chunk in chunks(item_ids):
                rows = conn.execute(
                    select(Job.item_id, Job.id, Job.priority, Job.params).where(
                        Job.kind == kind, Job.state.in_(OPEN_STATES), Job.item_id.in_(chunk)
                    )
                )
                found.update({row[0]: OpenJob(row[1], row[2], row[3]) for row in rows})
        return found

    def withdraw(
        self,
        item_ids: Sequence[int],
        before: dict[int, OpenJob],
        *,
        orphaned_running: bool = False,
        kind: str = CAPTION,
    ) -> int:
        """Take back what a one-off request (`captionist caption`) queued and did not
        get done: an item's job that was open before the request gets its priority
        and parameters back; a job the request added is deleted, as if never queued.
        Running jobs are left to their worker, unless `orphaned_running` (no worker
        is alive: the request's own worker was stopped). Returns the jobs deleted."""
        states = [JobState.QUEUED, *([JobState.RUNNING] if orphaned_running else [])]
        stamp = now()
        deleted = 0
        with self._db.write() as conn:
            for item_id, job in before.items():
                if item_id not in item_ids:
                    continue
                conn.execute(
                    update(Job)
                    .where(Job.kind == kind, Job.item_id == item_id, Job.state.in_(states))
                    .values(
                        state=JobState.QUEUED,
                        priority=job.priority,
                        params=job.params,
                        updated_at=stamp,
                    )
                )
            added = [i for i in item_ids if i not in before]
            for chunk in chunks(added):
                deleted += conn.execute(
                    delete(Job).where(
                        Job.kind == kind, Job.item_id.in_(chunk), Job.state.in_(states)
                    )
                ).rowcount
        return deleted

    def states_of(self, job_ids: Sequence[int]) -> dict[str, int]:
        """How many of these jobs are in each state (a withdrawn job is in none)."""
        totals: dict[str, int] = {}
        with self._db.read() as conn:
            for chunk in chunks(job_ids):
                rows = conn.execute(
                    select(Job.state, func.count()).where(Job.id.in_(chunk)).group_by(Job.state)
                )
                for state, n in rows:
                    totals[state] = totals.get(state, 0) + n
        return totals

    def state_of(self, job_id: int) -> str | None:
        with self._db.read() as conn:
            return conn.execute(select(Job.state).where(Job.id == job_id)).scalar()

    def outcome(self, job_id: int) -> tuple[str, str | None] | None:
        """(state, last_error) of the job, or None if it is gone (withdrawn)."""
        with self._db.read() as conn:
            row = conn.execute(select(Job.state, Job.last_error).where(Job.id == job_id)).first()
        return None if row is None else (row[0], row[1])

    def retry_failed(self, item_ids: Sequence[int] | None = None, kind: str = CAPTION) -> int:
        """Queue failed items again (the user pressed Retry)."""
        with self._db.read() as conn:
            stmt = select(Job.item_id).where(Job.state == JobState.FAILED, Job.kind == kind)
            if item_ids is not None:
                stmt = stmt.where(Job.item_id.in_(item_ids))
            ids = sorted({row[0] for row in conn.execute(stmt) if row[0] is not None})
        self.enqueue(ids, kind=kind, priority=PRIORITY_USER)
        return len(ids)

    def counts(self, kind: str = CAPTION) -> dict[str, int]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(Job.state, func.count()).where(Job.kind == kind).group_by(Job.state)
            ).all()
        return {state: n for state, n in rows}

    def open_count(self, kind: str = CAPTION) -> int:
        """Queued + running jobs: what `counts` would add up, read from the partial
        index of open jobs instead of grouping every job ever run (with 100k jobs
        in the table that was ~50 ms, and the worker asks after every caption)."""
        with self._db.read() as conn:
            return conn.execute(_open_count(kind)).scalar_one()


# The worker runs these once per caption. Building a statement with subqueries costs
# SQLAlchemy ~1 ms (construction and cache key), several times what SQLite takes to
# run it, so each is built once and executed with bound values.
@cache
def _claim(kind: str, min_priority: int | None) -> ReturningUpdate[*tuple[Any, ...]]:
    stamp: BindParameter[float] = bindparam("stamp")
    return (
        update(Job)
        .where(Job.id == next_queued_id(kind, min_priority=min_priority))
        .values(
            state=JobState.RUNNING, attempts=Job.attempts + 1, started_at=stamp, updated_at=stamp
        )
        .returning(Job.id, Job.kind, Job.item_id, Job.attempts, Job.params, Job.priority)
    )


@cache
def _open_count(kind: str) -> Select[int]:
    # The states inline, not bound: only then can SQLite see that the partial index of
    # open jobs (uq_jobs_open_per_item) covers the query.
    states: BindParameter[tuple[str, ...]] = bindparam(
        "states", OPEN_STATES, expanding=True, literal_execute=True
    )
    return select(func.count()).select_from(Job).where(Job.kind == kind, Job.state.in_(states))


def next_queued_id(kind: str = CAPTION, *, min_priority: int | None = None) -> ScalarSelect[int]:
    """The id of the job `claim_next` takes next, as a subquery.

    In two steps, each a seek in the (state, priority, id) index: the top priority,
    then the oldest job at it. One `ORDER BY priority DESC, id` mixes directions the
    index cannot serve, so SQLite sorted every queued job for each claim (~40 ms
    with 50k photos waiting)."""
    queued = [Job.state == JobState.QUEUED, Job.kind == kind]
    urgent = [] if min_priority is None else [Job.priority >= min_priority]
    top = (
        select(Job.priority).where(*queued, *urgent).order_by(Job.priority.desc()).limit(1)
    ).scalar_subquery()
    # Not `urgent` again here (`top` already is): SQLite would pick that range over the
    # equality and sort it by id.
    return (
        select(Job.id).where(*queued, Job.priority == top).order_by(Job.id).limit(1)
    ).scalar_subquery()
