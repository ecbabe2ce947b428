"""The activity panel's queries and actions on a real library: real photos scanned
into a real SQLite database, jobs failed the way the caption worker fails them."""

from __future__ import annotations

import time
from pathlib import Path

from app.core.jobs import PRIORITY_USER, JobQueue
from app.core.library.library import Library
from app.core.queue_status import (
    QueueActions,
    cancel_all,
    current_item,
    failed_items,
    queue_counts,
    retry,
    retry_all,
    set_paused,
    snapshot,
)
from app.core.settings import Settings
from app.core.storage.db import Database
from tests.media_factory import write_photo


def scan(library: Library, folder: Path) -> dict[str, int]:
    root = library.add_root(folder)
    library.scan(root.id)
    with library.db.read() as conn:
        return dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())


def fail_next(jobs: JobQueue, error: str) -> int:
    """Claim the next job and fail it, as the worker does on a bad caption."""
    job = jobs.claim_next()
    assert job is not None and job.item_id is not None
    jobs.finish(job.id, error=error)
    return job.item_id


def job_states(db: Database, item_id: int) -> list[str]:
    with db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT state FROM jobs WHERE item_id = ? ORDER BY id", (item_id,)
        ).all()
    return [row[0] for row in rows]


def test_failed_captions_are_listed_with_their_reasons_newest_first(
    library: Library, photo_dir: Path
) -> None:
    write_photo(photo_dir / "astronaut.jpg")
    write_photo(photo_dir / "coffee.png", "coffee")
    write_photo(photo_dir / "cat.jpg", "chelsea")
    ids = scan(library, photo_dir)
    jobs = library.jobs
    first = fail_next(jobs, "the model answered with broken JSON")
    time.sleep(0.01)
    second = fail_next(jobs, "out of memory while decoding")

    listed = failed_items(library.db)

    assert [(f.item_id, f.error) for f in listed] == [
        (second, "out of memory while decoding"),
        (first, "the model answered with broken JSON"),
    ]
    by_id = {v: k for k, v in ids.items()}
    assert listed[0].name == by_id[second]
    assert listed[0].path == str(photo_dir / by_id[second])
    assert listed[0].when is not None and listed[0].when >= listed[1].when  # type: ignore[operator]
    assert not listed[0].unreadable
    assert len(failed_items(library.db, limit=1)) == 1


def test_an_item_queued_again_or_captioned_since_is_no_longer_failed(
    library: Library, photo_dir: Path
) -> None:
    write_photo(photo_dir / "a.jpg")
    write_photo(photo_dir / "b.jpg", "coffee")
    scan(library, photo_dir)
    jobs = library.jobs
    requeued = fail_next(jobs, "boom")
    captioned = fail_next(jobs, "boom")
    jobs.enqueue([requeued, captioned])
    job = jobs.claim_next()
    assert job is not None
    jobs.finish(job.id)  # one of them captioned fine this time

    assert failed_items(library.db) == []
    assert queue_counts(library.db).failed == 0


def test_unreadable_files_are_listed_with_the_scanners_reason(
    library: Library, photo_dir: Path
) -> None:
    write_photo(photo_dir / "good.jpg")
    (photo_dir / "notes.jpg").write_text("Shopping list: eggs, milk, film.\n")
    ids = scan(library, photo_dir)

    listed = failed_items(library.db)

    assert [(f.item_id, f.name, f.unreadable, f.when) for f in listed] == [
        (ids["notes.jpg"], "notes.jpg", True, None)
    ]
    assert listed[0].error  # the scanner's own words, e.g. "not a picture"
    with library.db.read() as conn:
        stored = conn.exec_driver_sql(
            "SELECT last_error FROM media_items WHERE id = ?", (ids["notes.jpg"],)
        ).scalar()
    assert listed[0].error == stored


def test_missing_items_are_not_listed(library: Library, photo_dir: Path) -> None:
    write_photo(photo_dir / "gone.jpg")
    scan(library, photo_dir)
    fail_next(library.jobs, "boom")
    (photo_dir / "gone.jpg").unlink()
    library.scan(library.roots()[0].id)

    assert failed_items(library.db) == []


def test_counts_cancel_all_and_pause(library: Library, photo_dir: Path) -> None:
    for i, name in enumerate(("astronaut", "coffee", "chelsea", "rocket")):
        write_photo(photo_dir / f"{i}.jpg", name, size=(64, 48))
    scan(library, photo_dir)
    jobs = library.jobs
    fail_next(jobs, "boom")
    running = jobs.claim_next()
    assert running is not None

    before = queue_counts(library.db)
    assert (before.queued, before.running, before.failed, before.waiting) == (2, 1, 1, 3)

    assert cancel_all(library.db) == 3
    after = queue_counts(library.db)
    assert (after.queued, after.running, after.cancelled, after.failed) == (0, 0, 3, 1)
    assert jobs.state_of(running.id) == "cancelled"

    set_paused(library.db, True)
    assert Settings(library.db).read().queue_paused is True
    assert snapshot(library.db).paused is True
    set_paused(library.db, False)
    assert snapshot(library.db).paused is False


def test_retry_queues_failed_items_ahead_of_background_work(
    library: Library, photo_dir: Path
) -> None:
    write_photo(photo_dir / "a.jpg")
    write_photo(photo_dir / "b.jpg", "coffee")
    write_photo(photo_dir / "c.jpg", "chelsea")
    scan(library, photo_dir)
    jobs = library.jobs
    first = fail_next(jobs, "boom")
    second = fail_next(jobs, "bang")

    result = retry(library.db, [first])

    assert (result.queued, result.unreadable) == (1, 0)
    assert job_states(library.db, first) == ["failed", "queued"]
    assert job_states(library.db, second) == ["failed"]
    assert [f.item_id for f in failed_items(library.db)] == [second]
    claimed = jobs.claim_next()
    assert claimed is not None and claimed.item_id == first  # ahead of c.jpg

    assert retry_all(library.db).queued == 1
    assert job_states(library.db, second) == ["failed", "queued"]
    assert failed_items(library.db) == []


def test_retry_reads_an_unreadable_file_again(library: Library, photo_dir: Path) -> None:
    broken = photo_dir / "notes.jpg"
    broken.write_text("not a photo at all")
    still_broken = photo_dir / "cut.png"
    still_broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    ids = scan(library, photo_dir)
    assert {f.name for f in failed_items(library.db)} == {"notes.jpg", "cut.png"}
    write_photo(broken)  # the user replaced the file with a real photo

    result = QueueActions(library.db).retry([ids["notes.jpg"], ids["cut.png"]])

    assert (result.queued, result.unreadable) == (1, 1)
    assert [f.name for f in failed_items(library.db)] == ["cut.png"]
    with library.db.read() as conn:
        state, width, size = conn.exec_driver_sql(
            "SELECT state, width, size FROM media_items WHERE id = ?", (ids["notes.jpg"],)
        ).one()
        priority = conn.exec_driver_sql(
            "SELECT priority FROM jobs WHERE item_id = ? AND state = 'queued'",
            (ids["notes.jpg"],),
        ).scalar()
    assert (state, width, size) == ("ok", 512, broken.stat().st_size)
    assert priority == PRIORITY_USER
    assert job_states(library.db, ids["cut.png"]) == []


def test_current_item_names_the_file(library: Library, photo_dir: Path) -> None:
    write_photo(photo_dir / "Trip" / "astronaut.jpg")
    ids = scan(library, photo_dir)

    item = current_item(library.db, ids["astronaut.jpg"])

    assert item is not None
    assert (item.name, item.kind) == ("astronaut.jpg", "photo")
    assert item.folder.endswith("Trip")
    assert current_item(library.db, 999_999) is None
