"""The job queue's hot paths: which job a worker claims next, how many are open, and
that neither query grows with the queue (SQLite's own query plans, real database)."""

from __future__ import annotations

import random

from sqlalchemy import select

from app.core.jobs import (
    PRIORITY_BULK,
    PRIORITY_USER,
    JobQueue,
    _claim,
    _open_count,
    next_queued_id,
)
from app.core.storage.db import Database
from app.core.storage.schema import Job


def _queue_jobs(db: Database, priorities: list[int]) -> list[int]:
    """A job per priority (no items: the queue does not need them); their ids."""
    with db.write() as conn:
        conn.execute(
            Job.__table__.insert(),
            [
                dict(
                    kind="caption",
                    priority=p,
                    state="queued",
                    attempts=0,
                    created_at=0.0,
                    updated_at=0.0,
                )
                for p in priorities
            ],
        )
        return list(conn.execute(select(Job.id).order_by(Job.id)).scalars())


def _plan(db: Database, statement: object, params: dict[str, object] | None = None) -> str:
    """SQLite's EXPLAIN QUERY PLAN for a Core statement, as one string."""
    with db.read() as conn:
        compiled = statement.compile(conn, compile_kwargs={"render_postcompile": True})  # type: ignore[attr-defined]
        sql = str(compiled)
        values = compiled.construct_params(params or {})
        ordered = tuple(values[name] for name in compiled.positiontup)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, ordered).all()
    return " | ".join(row[-1] for row in rows)


def test_claims_follow_priority_then_age(db: Database) -> None:
    rng = random.Random(7)
    priorities = [rng.choice([0, 0, 0, 50, PRIORITY_USER]) for _ in range(60)]
    ids = _queue_jobs(db, priorities)
    expected = [
        i for _, i in sorted(zip(priorities, ids, strict=True), key=lambda p: (-p[0], p[1]))
    ]
    queue = JobQueue(db)

    claimed = []
    while (job := queue.claim_next()) is not None:
        claimed.append(job.id)
        assert job.attempts == 1

    assert claimed == expected
    assert queue.counts() == {"running": 60}


def test_min_priority_claims_only_urgent_jobs(db: Database) -> None:
    ids = _queue_jobs(db, [0, PRIORITY_USER, 0, PRIORITY_USER + 1])
    queue = JobQueue(db)

    taken = [queue.claim_next(min_priority=PRIORITY_USER) for _ in range(3)]

    assert [j.id if j else None for j in taken] == [ids[3], ids[1], None]
    assert queue.claim_next().id == ids[0]  # type: ignore[union-attr]


def test_open_count_is_queued_plus_running(db: Database) -> None:
    _queue_jobs(db, [0] * 7)
    queue = JobQueue(db)
    first, second = queue.claim_next(), queue.claim_next()
    assert first is not None and second is not None
    queue.finish(first.id)
    queue.finish(second.id, error="broken file")
    queue.claim_next()

    counts = queue.counts()
    assert counts == {"done": 1, "failed": 1, "running": 1, "queued": 4}
    assert queue.open_count() == counts["queued"] + counts["running"] == 5
    assert queue.open_count(kind="something-else") == 0


def test_claim_and_count_do_not_sort_or_scan_the_queue(db: Database) -> None:
    """With 50k photos queued, a claim that sorted the queue took ~40 ms and a count
    by state ~50 ms, per caption; these plans are what keeps them flat."""
    claim_plan = _plan(db, _claim("caption", None), {"stamp": 0.0})
    assert "TEMP B-TREE" not in claim_plan
    assert claim_plan.count("ix_jobs_claim") == 2
    urgent_plan = _plan(db, select(Job.id).where(Job.id == next_queued_id(min_priority=100)))
    assert "TEMP B-TREE" not in urgent_plan
    # Only the partial index of open jobs answers this without reading every job.
    assert "uq_jobs_open_per_item" in _plan(db, _open_count("caption"))


def test_a_bulk_recaption_queues_in_batches_behind_caption_this(db: Database) -> None:
    """Each batch its own transaction; an item the scanner already queued takes the
    re-caption's parameters (it is raised), one the user asked for keeps its place."""
    from tests.core.test_storage import add_item

    items = [add_item(db, f"{n}.jpg") for n in range(5)]
    queue = JobQueue(db)
    queue.enqueue(items[:1])  # the scanner's, with the default prompt
    queue.enqueue(items[1:2], priority=PRIORITY_USER)  # "Caption this"
    done: list[int] = []
    params = {"prompt": "detailed"}

    queue.enqueue_in_batches(
        items, batch=2, on_batch=done.append, priority=PRIORITY_BULK, params=params
    )

    assert done == [2, 4, 5]
    jobs = queue.open_jobs(items)
    assert sorted(jobs) == items
    assert (jobs[items[0]].priority, jobs[items[0]].params) == (PRIORITY_BULK, params)
    assert (jobs[items[1]].priority, jobs[items[1]].params) == (PRIORITY_USER, None)
    assert all(jobs[i].params == params for i in items[2:])
    assert queue.claim_next().item_id == items[1]  # "Caption this" still goes first
