"""The Qt-free pieces under undo and the details panel's error state, on a real
scanned library."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.caption_undo import current_snapshot, listed_ids, withdraw_caption
from app.core.captions import CaptionStore
from app.core.item_problem import caption_failure
from app.core.jobs import JobQueue
from app.core.library.library import Library
from app.core.search import search
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.media_factory import write_photo


@pytest.fixture
def items(library: Library, photo_dir: Path) -> list[int]:
    for name, photo in (("a.jpg", "astronaut"), ("b.jpg", "coffee"), ("c.jpg", "rocket")):
        write_photo(photo_dir / name, photo)
    root = library.add_root(photo_dir)
    library.scan(root.id)
    with library.db.read() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT id FROM media_items ORDER BY name")]


def test_snapshot_is_the_current_caption(db: Database, items: list[int]) -> None:
    store = CaptionStore(db)
    assert current_snapshot(db, items[0]) is None
    model = store_model_caption(db, items[0], "a person", ["person"])
    snap = current_snapshot(db, items[0])
    assert snap is not None and (snap.caption_id, snap.text, snap.tags, snap.source) == (
        model.id,
        "a person",
        ("person",),
        "model",
    )
    store_model_caption(db, items[0], "a newer model caption")
    mine = store.add_user_caption(items[0], "mine", ["x"])
    store_model_caption(db, items[0], "the model again")  # the user's words still win
    assert current_snapshot(db, items[0]).caption_id == mine.id  # type: ignore[union-attr]


def test_withdraw_only_a_user_caption_nothing_was_built_on(db: Database, items: list[int]) -> None:
    store = CaptionStore(db)
    item = items[0]
    model = store_model_caption(db, item, "model words")
    assert not withdraw_caption(db, model.id)  # the model's output is history
    edited = store.add_user_caption(item, "edited")  # edited from the model caption
    again = store.add_user_caption(item, "edited again")  # built on `edited`
    assert not withdraw_caption(db, edited.id)
    assert withdraw_caption(db, again.id)
    assert [c.text for c in store.history(item)] == ["edited", "model words"]
    assert not withdraw_caption(db, again.id)  # already gone

    fresh = store.add_user_caption(items[1], "espresso from scratch")
    assert [h.item_id for h in search(db, "espresso")] == [items[1]]
    assert withdraw_caption(db, fresh.id)
    assert store.history(items[1]) == []
    assert search(db, "espresso") == []  # the search index follows


def test_listed_ids_are_those_in_the_library_now(
    db: Database, library: Library, items: list[int]
) -> None:
    library.remove_items([items[1]])
    assert listed_ids(db, [*items, 9999]) == [items[0], items[2]]
    assert listed_ids(db, []) == []


def test_caption_failure_is_the_newest_jobs_reason(db: Database, items: list[int]) -> None:
    queue = JobQueue(db)
    job = queue.claim_next()
    assert job is not None and job.item_id is not None
    assert caption_failure(db, job.item_id) is None  # running, not failed
    queue.finish(job.id, error="the model ran out of memory")
    assert caption_failure(db, job.item_id) == "the model ran out of memory"
    other = next(i for i in items if i != job.item_id)
    assert caption_failure(db, other) is None
