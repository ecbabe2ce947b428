"""Files that leave the library and come back (issue 17): restored to their own path
with a plain copy (a new modification time, the same bytes), or with other content;
and the caption jobs of files that are gone.

Real files, a real library; the watcher tests run real observers.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.captions import CaptionStore
from app.core.jobs import PRIORITY_USER
from app.core.library.library import Library
from app.core.library.watcher import LibraryWatcher
from app.core.search import search
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.core.scan_support import finish_all_jobs, fs, item_at, items, jobs_by_item
from tests.media_factory import write_photo

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
USER_WORDS = "grandma's lemon tree in bloom"


def _album(folder: Path, count: int = 8) -> list[Path]:
    """`count` real photos of different sizes."""
    return [
        write_photo(folder / f"IMG_{i:04}.jpg", PHOTOS[i % 4], size=(40 + i, 30 + i))
        for i in range(count)
    ]


def _plain_copy(src: Path, dst: Path) -> None:
    """`cp` without -p: the same bytes, a new modification time."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    later = src.stat().st_mtime + 100
    os.utime(dst, (later, later))


def _job_rows(db: Database) -> list[tuple[int, int, str, int, int, str | None]]:
    """(id, item id, state, priority, attempts, last error) of every caption job."""
    with db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, item_id, state, priority, attempts, last_error FROM jobs "
            "WHERE kind = 'caption' ORDER BY id"
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


# -- restored to the same path ------------------------------------------------------------
def test_photos_restored_to_their_path_with_a_plain_copy_keep_their_captions(
    library: Library, db: Database, photo_dir: Path, tmp_path: Path
) -> None:
    """Caption 8 photos, one in the user's words; delete the folder, rescan; `cp` the
    same files back: the same 8 items return with their captions, nothing is queued,
    and the user's words find the photo again."""
    album = photo_dir / "Holiday"
    photos = _album(album)
    backup = tmp_path / "backup"
    shutil.copytree(album, backup)
    root = library.add_root(photo_dir)
    library.scan(root.id)
    ids = {p.name: item_at(db, p).id for p in photos}
    for name, item_id in ids.items():
        store_model_caption(db, item_id, f"a photo called {name}")
    captions = CaptionStore(db)
    mine = ids["IMG_0003.jpg"]
    captions.add_user_caption(mine, USER_WORDS)
    assert [h.item_id for h in search(db, "lemon tree")] == [mine]
    shutil.rmtree(album)
    assert library.scan(root.id).missing == 8
    assert search(db, "lemon tree") == []

    for photo in photos:
        _plain_copy(backup / photo.name, photo)
    report = library.scan(root.id)

    assert (report.returned, report.new, report.changed, report.moved, report.missing) == (
        8,
        0,
        0,
        0,
        0,
    )
    assert {p.name: item_at(db, p).id for p in photos} == ids
    assert len(items(db)) == 8
    assert {item_at(db, p).state for p in photos} == {"ok"}
    status = library.status()
    assert (status.items, status.captioned, status.queued, status.missing) == (8, 8, 0, 0)
    (hit,) = search(db, "lemon tree")
    assert (hit.item_id, hit.path) == (mine, os.fsdecode(photos[3]))
    assert captions.current(mine).text == USER_WORDS
    # And a rescan agrees: the new modification times were recorded.
    again = library.scan(root.id)
    assert (again.unchanged, again.changed, again.returned) == (8, 0, 0)


def test_other_content_at_a_missing_photos_path_is_a_changed_item_keeping_the_users_words(
    library: Library, db: Database, photo_dir: Path
) -> None:
    """Deleted, rescanned, then another photo written at the same path: the same as
    overwriting it with no rescan between, a changed item. The user's caption stays
    (and stays searchable), no caption job replaces it; a photo only the model had
    captioned is queued again."""
    mine, models = _album(photo_dir, 2)
    root = library.add_root(photo_dir)
    library.scan(root.id)
    mine_id, models_id = item_at(db, mine).id, item_at(db, models).id
    store_model_caption(db, mine_id, "an astronaut")
    store_model_caption(db, models_id, "a cup of coffee")
    captions = CaptionStore(db)
    captions.add_user_caption(mine_id, USER_WORDS)
    mine.unlink()
    models.unlink()
    assert library.scan(root.id).missing == 2
    write_photo(mine, "rocket", size=(70, 50))
    write_photo(models, "chelsea", size=(72, 52))

    report = library.scan(root.id)

    assert (report.changed, report.new, report.returned, report.moved) == (2, 0, 0, 0)
    assert len(items(db)) == 2
    now_mine, now_models = item_at(db, mine), item_at(db, models)
    assert (now_mine.id, now_mine.state, now_mine.width) == (mine_id, "ok", 70)
    assert (now_models.id, now_models.state, now_models.width) == (models_id, "ok", 72)
    assert captions.current(mine_id).text == USER_WORDS
    assert [h.item_id for h in search(db, "lemon tree")] == [mine_id]
    assert jobs_by_item(db) == {models_id: 1}


def test_missing_photos_content_back_at_another_missing_photos_path_moves_there(
    library: Library, db: Database, photo_dir: Path, tmp_path: Path
) -> None:
    """Two photos deleted; the first one's file comes back at the second's path: the
    item it is moves there with its captions, the other stays missing with its own."""
    first, second = _album(photo_dir, 2)
    saved = tmp_path / "saved.jpg"
    shutil.copyfile(first, saved)
    root = library.add_root(photo_dir)
    library.scan(root.id)
    first_id, second_id = item_at(db, first).id, item_at(db, second).id
    captions = CaptionStore(db)
    captions.add_user_caption(first_id, USER_WORDS)
    captions.add_user_caption(second_id, "a cup of coffee")
    first.unlink()
    second.unlink()
    assert library.scan(root.id).missing == 2
    _plain_copy(saved, second)

    report = library.scan(root.id)

    assert (report.moved, report.changed, report.new, report.returned) == (1, 0, 0, 0)
    assert item_at(db, second).id == first_id
    assert captions.current(first_id).text == USER_WORDS
    assert captions.current(second_id).text == "a cup of coffee"
    assert library.status().missing == 1


# -- the jobs of files that are gone ------------------------------------------------------
def test_gone_files_jobs_are_cancelled_and_come_back_with_them(
    library: Library, db: Database, photo_dir: Path, tmp_path: Path
) -> None:
    """Files that go missing keep no open jobs (the worker would fail each one, "no
    longer in the library", into the Errors view and the Retry list); when they come
    back, moved back or copied back, their jobs do, priority and all."""
    album = photo_dir / "Holiday"
    photos = _album(album)
    root = library.add_root(photo_dir)
    library.scan(root.id)
    ids = [item_at(db, p).id for p in photos]
    library.jobs.enqueue([ids[0]], priority=PRIORITY_USER)  # "Caption this"
    running = library.jobs.claim_next()
    assert running is not None and running.item_id == ids[0]
    before = jobs_by_item(db, "queued") | jobs_by_item(db, "running")
    assert sorted(before) == sorted(ids)
    shutil.move(album, tmp_path / "away")

    assert library.scan(root.id).missing == 8

    status = library.status()
    assert (status.items, status.queued, status.running, status.missing) == (0, 0, 0, 8)
    assert library.jobs.state_of(running.id) == "cancelled"
    assert finish_all_jobs(library) == 0  # nothing for the worker to fail on
    assert "failed" not in library.jobs.counts()

    # Half come back moved (same modification time), half copied (a new one).
    (album).mkdir()
    for photo in photos[:4]:
        shutil.move(tmp_path / "away" / photo.name, photo)
    for photo in photos[4:]:
        _plain_copy(tmp_path / "away" / photo.name, photo)
    report = library.scan(root.id)

    assert (report.returned, report.new, report.missing) == (8, 0, 0)
    assert jobs_by_item(db) == {item_id: 1 for item_id in ids}
    status = library.status()
    assert (status.items, status.queued, status.missing) == (8, 8, 0)
    job_id, item_id, state, priority, attempts, error = _job_rows(db)[0]
    assert (job_id, item_id, state, priority, attempts, error) == (
        running.id,
        ids[0],
        "queued",
        PRIORITY_USER,
        0,
        None,
    )
    assert library.jobs.claim_next().item_id == ids[0]  # still first in line


def test_a_returning_photo_is_queued_only_by_todays_rules(
    library: Library, db: Database, photo_dir: Path, tmp_path: Path
) -> None:
    """A captioned photo that had no open job comes back without one; with captioning
    off, only the jobs it had come back."""
    captioned, waiting, idle = _album(photo_dir, 3)
    root = library.add_root(photo_dir)
    library.scan(root.id)
    captioned_id, waiting_id = item_at(db, captioned).id, item_at(db, waiting).id
    store_model_caption(db, captioned_id, "an astronaut")
    library.jobs.cancel([item_at(db, idle).id])  # the user cancelled it
    library.settings.set("auto_caption", False)
    shutil.move(photo_dir, tmp_path / "away")
    photo_dir.mkdir()
    assert library.scan(root.id).missing == 3
    for photo in (captioned, waiting, idle):
        shutil.move(tmp_path / "away" / photo.name, photo)

    assert library.scan(root.id).returned == 3

    assert jobs_by_item(db) == {waiting_id: 1}


# -- the watcher's path ------------------------------------------------------------------
@pytest.fixture
def watching(library: Library) -> Iterator[Callable[[], LibraryWatcher]]:
    started: list[LibraryWatcher] = []

    def start() -> LibraryWatcher:
        watcher = LibraryWatcher(library, debounce_s=0.1, stable_s=0.1)
        started.append(watcher)
        watcher.start()
        return watcher

    yield start
    for watcher in started:
        watcher.stop()


def _eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for: {what}")
        time.sleep(0.05)


def _state(db: Database, path: Path) -> str | None:
    found = items(db).get(fs(path))
    return found.state if found else None


def test_watcher_restored_photo_keeps_its_caption_and_its_job(
    library: Library, db: Database, photo_dir: Path, tmp_path: Path, watching
) -> None:
    root_dir = Path(os.path.realpath(photo_dir))
    mine, waiting = _album(root_dir, 2)
    backup = tmp_path / "backup"
    shutil.copytree(root_dir, backup)
    library.scan(library.add_root(root_dir).id)
    mine_id, waiting_id = item_at(db, mine).id, item_at(db, waiting).id
    store_model_caption(db, mine_id, "an astronaut")
    CaptionStore(db).add_user_caption(mine_id, USER_WORDS)
    assert jobs_by_item(db) == {waiting_id: 1}
    watcher = watching()

    mine.unlink()
    waiting.unlink()
    _eventually(lambda: _state(db, mine) == _state(db, waiting) == "missing", "both missing")
    assert watcher.wait_idle(30.0)
    assert jobs_by_item(db) == {}
    assert library.status().queued == 0

    _plain_copy(backup / mine.name, mine)
    _plain_copy(backup / waiting.name, waiting)
    _eventually(lambda: _state(db, mine) == _state(db, waiting) == "ok", "both back")
    assert watcher.wait_idle(30.0)

    assert (item_at(db, mine).id, item_at(db, waiting).id) == (mine_id, waiting_id)
    assert len(items(db)) == 2
    assert [h.item_id for h in search(db, "lemon tree")] == [mine_id]
    assert jobs_by_item(db) == {waiting_id: 1}
