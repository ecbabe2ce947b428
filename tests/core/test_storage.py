"""Database set-up, migrations, caption history and the job queue."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.core.captions import CaptionStore
from app.core.jobs import PRIORITY_USER, JobQueue
from app.core.storage.db import Database, current_revision, head_revision, make_engine, upgrade
from app.core.storage.schema import Base
from tests.caption_support import store_model_caption
from tests.migration_support import downgrade


def add_item(db: Database, name: str = "a.jpg", *, root_path: bytes = b"/lib") -> int:
    with db.write() as conn:
        root = conn.exec_driver_sql(
            "INSERT OR IGNORE INTO roots (path, enabled, added_at) VALUES (?, 1, 0)", (root_path,)
        )
        root_id = conn.exec_driver_sql(
            "SELECT id FROM roots WHERE path = ?", (root_path,)
        ).scalar_one()
        del root
        return conn.exec_driver_sql(
            """INSERT INTO media_items (root_id, path, name, folder, kind, size, mtime_ns,
                   added_at, state) VALUES (?, ?, ?, 'lib', 'photo', 1, 1, 0, 'ok')""",
            (root_id, root_path + b"/" + name.encode(), name),
        ).lastrowid


def test_pragmas_wal_foreign_keys_busy_timeout(db: Database) -> None:
    with db.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        # No memory-mapped reads: an I/O error there is a SIGBUS, not an error (db.py).
        assert conn.execute(text("PRAGMA mmap_size")).scalar() == 0


def test_new_database_is_at_head_and_matches_the_orm(db: Database) -> None:
    assert current_revision(db.engine) == head_revision()
    with db.read() as conn:
        tables = {
            r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")
        }
        for table in Base.metadata.tables.values():
            assert table.name in tables
            columns = {r[1] for r in conn.exec_driver_sql(f"PRAGMA table_info({table.name})")}
            assert columns == {c.name for c in table.columns}, table.name


def test_old_version_database_is_migrated_with_its_data(tmp_path: Path) -> None:
    """A library made by version 0001 (before the search index) upgrades, keeps its
    captions, gets them indexed, and leaves a backup of the old file."""
    path = tmp_path / "library.db"
    engine = make_engine(path)
    upgrade(engine, path, "0001")
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO roots (path, enabled, added_at) VALUES (?, 1, 0)", (b"/old",))
        conn.execute(
            """INSERT INTO media_items (root_id, path, name, folder, kind, size, mtime_ns,
                   added_at, state) VALUES (1, ?, 'beach.jpg', 'old', 'photo', 5, 5, 0, 'ok')""",
            (b"/old/beach.jpg",),
        )
        conn.execute(
            """INSERT INTO captions (item_id, text, tags, source, created_at)
               VALUES (1, 'a lighthouse at dusk', '["sea"]', 'model', 0)"""
        )
    db = Database(path)
    try:
        assert current_revision(db.engine) == head_revision()
        assert list((tmp_path / "backups").glob(f"library-*-before-{head_revision()}.db"))
        from app.core.search import search

        hits = search(db, "lighthouse")
        assert [h.path for h in hits] == ["/old/beach.jpg"]
        assert CaptionStore(db).current(1).text == "a lighthouse at dusk"
    finally:
        db.close()


def test_captions_are_history_updates_are_refused(db: Database) -> None:
    item = add_item(db)
    store_model_caption(db, item, "first")
    with pytest.raises(DBAPIError, match="captions are history"), db.write() as conn:
        conn.exec_driver_sql("UPDATE captions SET text = 'overwritten'")


def test_user_caption_beats_newer_model_caption(db: Database) -> None:
    item = add_item(db)
    store = CaptionStore(db)
    model = store_model_caption(db, item, "a dog", ["dog"], model_id="m1", prompt_id="short")
    user = store.add_user_caption(item, "Rex on the beach", ["rex", "beach"])
    store_model_caption(db, item, "a brown dog", ["dog"], model_id="m1", prompt_id="short")
    current = store.current(item)
    assert current is not None and current.id == user.id and current.source == "user"
    assert user.edited_from_id == model.id
    assert [c.text for c in store.history(item)] == ["a brown dog", "Rex on the beach", "a dog"]


def test_corrections_pair_model_output_with_users_latest_edit(db: Database) -> None:
    store = CaptionStore(db)
    corrected = add_item(db, "corrected.jpg")
    untouched = add_item(db, "untouched.jpg")
    from_scratch = add_item(db, "scratch.jpg")
    model = store_model_caption(db, corrected, "a cat", ["cat"], prompt_id="short", model_id="m")
    store.add_user_caption(corrected, "a tabby cat", ["cat"])
    final = store.add_user_caption(corrected, "a tabby cat asleep", ["cat", "sleep"])
    store_model_caption(db, untouched, "a tree")
    store.add_user_caption(from_scratch, "written without any model caption")

    pairs = store.corrections()
    assert len(pairs) == 1
    pair = pairs[0]
    assert pair.item_id == corrected and pair.path == "/lib/corrected.jpg"
    assert pair.model_caption.id == model.id and pair.user_caption.id == final.id
    assert pair.prompt_id == "short" and pair.model_id == "m"


def test_job_queue_priority_dedup_and_recovery(db: Database) -> None:
    queue = JobQueue(db)
    a, b, c = (add_item(db, f"{n}.jpg") for n in "abc")
    queue.enqueue([a, b, c])
    queue.enqueue([a, b])  # already queued: no duplicates
    assert queue.counts() == {"queued": 3}
    queue.enqueue([c], priority=PRIORITY_USER)  # "Caption this" jumps the queue
    first = queue.claim_next()
    assert first is not None and first.item_id == c and first.attempts == 1
    second = queue.claim_next()
    assert second is not None and second.item_id == a
    # The worker dies with two jobs running: both go back to the queue.
    assert queue.recover_interrupted() == (2, 0)
    assert queue.counts() == {"queued": 3}
    job = queue.claim_next()
    assert job is not None and job.item_id == c and job.attempts == 2 and not job.safe_mode
    # It dies again on the same file: one more try, in the engine's safe mode.
    assert queue.recover_interrupted() == (1, 0)
    job = queue.claim_next()
    assert job is not None and job.item_id == c and job.attempts == 3 and job.safe_mode
    # It dies in safe mode too: that file is what kills it, so it is skipped.
    assert queue.recover_interrupted() == (0, 1)
    assert queue.counts() == {"queued": 2, "failed": 1}
    with db.read() as conn:
        reason = conn.exec_driver_sql("SELECT last_error FROM jobs WHERE state='failed'").scalar()
    assert "three times" in reason and "safe mode (greedy" in reason
    # A deliberate stop (pause, shutdown) is not held against the job.
    job = queue.claim_next()
    assert job is not None and job.item_id == a and job.attempts == 2  # running at crash 1
    queue.release(job.id)
    again = queue.claim_next()
    assert again is not None and again.id == job.id and again.attempts == 2
    queue.finish(again.id)
    assert queue.counts() == {"queued": 1, "failed": 1, "done": 1}
    assert queue.retry_failed() == 1
    assert queue.counts() == {"queued": 2, "failed": 1, "done": 1}
    assert queue.cancel([a, b, c]) == 2
    assert queue.counts() == {"failed": 1, "done": 1, "cancelled": 2}


def test_two_writers_wait_for_each_other_instead_of_failing(db: Database) -> None:
    import threading

    items = [add_item(db, f"{i}.jpg") for i in range(20)]
    store = CaptionStore(db)
    errors: list[BaseException] = []

    def write(offset: int) -> None:
        try:
            other = Database(db.path)
            # Each item's caption job is claimed by one worker at a time.
            for item in items[offset::3]:
                store_model_caption(other, item, f"caption {offset}")
            other.close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for item in items:
        store.add_user_caption(item, "mine")
    for t in threads:
        t.join()
    assert errors == []
    assert all(store.current(i).text == "mine" for i in items)


def _make_0002_library(path: Path) -> None:
    """A library as version 0002 left it: a probed item with a caption and a video
    moment, an item found but not probed yet (indexed by name under 0002), a missing one."""
    engine = make_engine(path)
    upgrade(engine, path, "0002")
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO roots (path, enabled, added_at) VALUES (?, 1, 0)", (b"/old",))
        for item_id, name, state in [
            (1, "lighthouse.mp4", "ok"),
            (2, "harbour.jpg", "new"),
            (3, "gone.jpg", "missing"),
        ]:
            conn.execute(
                """INSERT INTO media_items (id, root_id, path, name, folder, kind, size,
                       mtime_ns, added_at, state)
                   VALUES (?, 1, ?, ?, 'old', 'photo', 5, 5, 0, ?)""",
                (item_id, b"/old/" + name.encode(), name, state),
            )
        conn.execute("INSERT INTO keyframes (id, item_id, timestamp) VALUES (7, 1, 2.5)")
        conn.execute("INSERT INTO keyframes (id, item_id, timestamp) VALUES (8, 2, 1.0)")
        for item_id, keyframe_id, text in [
            (1, None, "a lighthouse at dusk"),
            (1, 7, "waves break on the rocks"),
            (2, None, "boats in the harbour"),
            (2, 8, "a seagull takes off"),
        ]:
            conn.execute(
                """INSERT INTO captions (item_id, keyframe_id, text, tags, source, created_at)
                   VALUES (?, ?, ?, '["sea"]', 'model', 0)""",
                (item_id, keyframe_id, text),
            )
        rows = {r[0] for r in conn.execute("SELECT rowid FROM search_index")}
    assert rows == {1, -7, 2, -8}  # 0002 indexed everything not missing


def test_0002_database_upgrades_to_index_probed_items_only(tmp_path: Path) -> None:
    """0003: unprobed items leave the index (and come back once probed), the index
    gets 4-letter prefixes, the library list still shows every present item."""
    from app.core.search import recent, search

    path = tmp_path / "library.db"
    _make_0002_library(path)
    db = Database(path)
    try:
        assert current_revision(db.engine) == head_revision()
        assert list((tmp_path / "backups").glob(f"library-*-before-{head_revision()}.db"))
        with db.read() as conn:
            rows = {r[0] for r in conn.exec_driver_sql("SELECT rowid FROM search_index")}
            table_sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'search_index'"
            ).scalar_one()
        assert rows == {1, -7}
        assert "prefix = '2 3 4'" in table_sql
        assert [h.name for h in search(db, "lighthouse")] == ["lighthouse.mp4"]
        (moment,) = search(db, "rocks")
        assert (moment.item_id, moment.timestamp) == (1, 2.5)
        assert [h.name for h in search(db, "ligh*")] == ["lighthouse.mp4"]
        assert search(db, "harbour") == [] and search(db, "seagull") == []
        assert sorted(h.name for h in recent(db)) == ["harbour.jpg", "lighthouse.mp4"]
        with db.write() as conn:  # probed: indexed, with its moment
            conn.exec_driver_sql("UPDATE media_items SET state = 'ok' WHERE id = 2")
        assert [h.name for h in search(db, "harbour")] == ["harbour.jpg"]
        assert [h.timestamp for h in search(db, "seagull")] == [1.0]
    finally:
        db.close()


def test_0003_downgrades_to_0002_indexing(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    _make_0002_library(path)
    Database(path).close()
    engine = make_engine(path)
    try:
        downgrade(engine, "0002")
        assert current_revision(engine) == "0002"
        with engine.connect() as conn:
            rows = {r[0] for r in conn.exec_driver_sql("SELECT rowid FROM search_index")}
        assert rows == {1, -7, 2, -8}
    finally:
        engine.dispose()


def test_removed_items_leave_the_index_and_a_downgrade_brings_them_back(tmp_path: Path) -> None:
    """0004: state 'removed' is not indexed (item and moments); downgrading to 0003
    turns removed items into ordinary ones, indexed again, and drops the review column."""
    from app.core.search import search

    path = tmp_path / "library.db"
    _make_0002_library(path)
    db = Database(path)
    try:
        with db.write() as conn:
            conn.exec_driver_sql("UPDATE media_items SET state = 'removed' WHERE id = 1")
        assert search(db, "lighthouse") == [] and search(db, "rocks") == []
    finally:
        db.close()
    engine = make_engine(path)
    try:
        downgrade(engine, "0003")
        with engine.connect() as conn:
            rows = {r[0] for r in conn.exec_driver_sql("SELECT rowid FROM search_index")}
            columns = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(media_items)")}
            triggers = {
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                )
            }
        assert rows == {1, -7}
        assert "reviewed_caption_id" not in columns
        assert "search_item_update" in triggers
    finally:
        engine.dispose()
