"""A damaged library is recovered, never written into: rolling backups taken with the
online backup API, damage found at open (a truncated file, random bytes, a page
overwritten), the damaged file set aside, the newest good backup restored or the
library rebuilt from its folders with the user's own captions from the app's XMP."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.captions import USER, CaptionStore
from app.core.library.library import Library
from app.core.library.recovery import NoFolders, NothingToRestore, rebuild, restore_newest
from app.core.metadata.write_back import write_metadata
from app.core.storage import backups
from app.core.storage.db import Database
from app.core.storage.problems import LibraryDamaged
from tests.caption_support import store_model_caption
from tests.media_factory import write_photo

PAGE = 4096


def make_library(path: Path, rows: int = 400) -> None:
    """A library with enough items to fill many pages (so damage lands on data)."""
    db = Database(path)
    try:
        with db.write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO roots (path, enabled, added_at, watch_state) VALUES (?, 1, 0, 'off')",
                (b"/photos",),
            )
            for i in range(rows):
                conn.exec_driver_sql(
                    """INSERT INTO media_items (root_id, path, name, folder, kind, size,
                       mtime_ns, added_at, state) VALUES (1, ?, ?, 'x', 'photo', 5, 5, 0, 'ok')""",
                    (f"/photos/{i:05}-{'long name ' * 8}.jpg".encode(), f"{i}.jpg"),
                )
    finally:
        db.close()
    conn = sqlite3.connect(path)  # everything in the main file, no WAL left
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()


def truncate(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def corrupt_page(path: Path) -> None:
    """Overwrite a page of media_items' rows (the middle one) with garbage: a read of
    the items meets it, wherever the schema puts the table in the file."""
    with sqlite3.connect(path) as conn:
        leaves = [
            page
            for (page,) in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = 'media_items' AND pagetype = 'leaf' "
                "ORDER BY pageno"
            )
        ]
    conn.close()
    with path.open("r+b") as f:
        f.seek((leaves[len(leaves) // 2] - 1) * PAGE)  # pages count from 1
        f.write(b"\xa5" * PAGE)


DAMAGES = [truncate, random_bytes, corrupt_page]


def test_a_sound_library_passes_and_is_backed_up_once_a_day(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    make_library(path)
    assert backups.damage(path) is None
    taken = backups.backups(path)
    assert len(taken) == 1 and "daily" in taken[0].path.name
    Database(path).close()  # opened again the same day: no second backup
    assert len(backups.backups(path)) == 1
    with sqlite3.connect(taken[0].path) as conn:  # a complete, self-contained copy
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    later = time.time() + backups.DAILY_S + 1
    assert backups.daily_backup(path, now=later) is not None


def test_only_the_newest_backups_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    make_library(path, rows=2)
    shutil.rmtree(backups.backup_folder(path))
    for n in range(backups.KEEP + 3):
        taken = backups.take_backup(path, f"test{n}")
        assert taken is not None
        stamp = time.time() - 1000 + n
        os.utime(taken, (stamp, stamp))
    kept = backups.backups(path)
    assert len(kept) == backups.KEEP
    assert "test" + str(backups.KEEP + 2) in kept[0].path.name


def test_backups_before_migrations_and_daily_ones_are_kept_apart(tmp_path: Path) -> None:
    """A run of upgrades cannot push every daily copy out, nor a week of daily copies
    the one from before the last upgrade."""
    path = tmp_path / "library.db"
    make_library(path, rows=2)
    shutil.rmtree(backups.backup_folder(path))
    stamp = time.time() - 10_000

    def take(reason: str) -> None:
        nonlocal stamp
        taken = backups.take_backup(path, reason)
        assert taken is not None
        stamp += 10
        os.utime(taken, (stamp, stamp))

    take("before-0001")
    for n in range(backups.KEEP + 2):
        take(f"daily{n}")
    for n in range(backups.KEEP_BEFORE_MIGRATION + 3):
        take(f"before-{n:04}")
    kept = backups.backups(path)
    migrations = [b for b in kept if backups.is_before_migration(b)]
    daily = [b for b in kept if not backups.is_before_migration(b)]
    assert len(migrations) == backups.KEEP_BEFORE_MIGRATION
    assert len(daily) == backups.KEEP
    assert f"daily{backups.KEEP + 1}" in daily[0].path.name
    # a backup before a migration is not the day's backup
    assert backups.daily_backup(path, now=stamp + 60) is None  # the newest daily is fresh
    assert backups.daily_backup(path, now=stamp + backups.DAILY_S + 60) is not None


@pytest.mark.parametrize("damage", DAMAGES)
def test_damage_is_found_at_open_and_the_file_is_not_written(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    path = tmp_path / "library.db"
    make_library(path)
    damage(path)
    before = path.read_bytes()
    assert backups.damage(path) is not None
    assert not path.with_name("library.db-wal").exists()
    with pytest.raises(LibraryDamaged) as raised:
        Database(path)
    assert "repair" in str(raised.value)
    assert path.read_bytes() == before
    assert not path.with_name("library.db-wal").exists()
    # a damaged library is never backed up (it would push a good backup out)
    assert backups.take_backup(path, "test") is None


InUse = tuple[Path, Database, list[LibraryDamaged]]


@pytest.fixture
def in_use(tmp_path: Path) -> Iterator[InUse]:
    """A library with rows over many pages, open, and the damage it was told of."""
    path = tmp_path / "library.db"
    make_library(path)
    db = Database(path)
    told: list[LibraryDamaged] = []
    db.on_damaged = told.append
    try:
        yield path, db, told
    finally:
        db.close()


def test_damage_found_while_in_use_stops_every_write_and_is_told_once(in_use: InUse) -> None:
    path, db, told = in_use
    db.engine.dispose()  # no page cached from before the damage
    corrupt_page(path)
    for _ in range(2):
        with pytest.raises(LibraryDamaged), db.read() as conn:
            conn.exec_driver_sql("SELECT * FROM media_items ORDER BY name").all()
    assert len(told) == 1 and db.damaged is told[0]
    before = path.read_bytes()
    with pytest.raises(LibraryDamaged), db.write() as conn:
        conn.exec_driver_sql("DELETE FROM media_items")
    with pytest.raises(LibraryDamaged), db.session():
        pass
    assert path.read_bytes() == before
    assert len(told) == 1


def test_damage_met_through_a_raw_cursor_stops_writes_too(in_use: InUse) -> None:
    """The scanner reads through the DBAPI cursor, past SQLAlchemy's error hook: the
    damage it meets must stop writes all the same (a rescan met it first in CI)."""
    path, db, told = in_use
    db.engine.dispose()
    corrupt_page(path)
    with pytest.raises(LibraryDamaged), db.read() as conn:
        cursor = conn.connection.cursor()
        cursor.execute("SELECT * FROM media_items ORDER BY name").fetchall()
    assert len(told) == 1 and db.damaged is told[0]
    with pytest.raises(LibraryDamaged), db.write():
        pass


def test_damage_seen_elsewhere_is_told_once_and_stops_writes(in_use: InUse) -> None:
    """The caption worker's own connection found it: this process stops writing too."""
    path, db, told = in_use
    for _ in range(2):
        db.found_damaged(LibraryDamaged(path, "malformed"))
    assert len(told) == 1
    with pytest.raises(LibraryDamaged), db.session():
        pass


@pytest.mark.parametrize("damage", DAMAGES)
def test_the_newest_good_backup_is_restored(tmp_path: Path, damage: Callable[[Path], None]) -> None:
    path = tmp_path / "library.db"
    make_library(path)
    shutil.rmtree(backups.backup_folder(path))  # the daily one, of the library still empty
    backups.take_backup(path, "good")
    (good,) = backups.backups(path)
    bad = backups.take_backup(path, "later")
    assert bad is not None
    corrupt_page(bad)  # a newer backup that is itself damaged is passed over
    os.utime(bad, (time.time() + 60, time.time() + 60))
    damage(path)
    damaged = path.read_bytes()
    recovery = restore_newest(path)
    assert recovery.restored is not None and recovery.restored.path == good.path
    assert recovery.set_aside.read_bytes() == damaged
    assert backups.damage(path) is None
    db = Database(path)
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM media_items").scalar() == 400
    finally:
        db.close()


def test_no_good_backup_says_so(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    make_library(path)
    shutil.rmtree(backups.backup_folder(path))
    random_bytes(path)
    with pytest.raises(NothingToRestore):
        restore_newest(path)
    assert path.exists()  # nothing was moved


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="Debian libimage-exiftool-perl")
def test_rebuild_takes_the_users_captions_back_from_the_apps_xmp(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    folder = tmp_path / "Photos"
    ai = write_photo(folder / "ai.jpg", "astronaut")
    mine = write_photo(folder / "mine.jpg", "rocket")
    db = Database(path)
    try:
        library = Library(db)
        root = library.add_root(folder)
        library.scan(root.id)
        with db.read() as conn:
            ids = dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())
        store_model_caption(db, ids["ai.jpg"], "An AI caption.", ["ai"], model_id="m")
        CaptionStore(db).add_user_caption(ids["mine.jpg"], "Launch day, my words", ["me"])
        write_metadata(db, list(ids.values()))
    finally:
        db.close()
    shutil.rmtree(backups.backup_folder(path))  # nothing to restore: rebuild
    random_bytes(path)

    with pytest.raises(NoFolders):  # none readable from the damaged file
        rebuild(path)
    recovery = rebuild(path, [str(folder)])
    assert recovery.user_captions == 1
    db = Database(path)
    try:
        with db.read() as conn:
            ids = dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())
        store = CaptionStore(db)
        assert store.current(ids["ai.jpg"]) is None  # the model captions it again
        restored = store.current(ids["mine.jpg"])
        assert restored is not None and restored.source == USER
        assert (restored.text, restored.tags) == ("Launch day, my words", ["me"])
    finally:
        db.close()
    assert ai.exists() and mine.exists()


def test_rebuild_finds_the_folders_in_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    folder = tmp_path / "Photos"
    write_photo(folder / "a.jpg", "astronaut")
    db = Database(path)
    try:
        Library(db).add_root(folder)
    finally:
        db.close()
    backups.take_backup(path, "test")
    random_bytes(path)
    recovery = rebuild(path)
    assert [f for f, _r in recovery.scanned] == [os.fsencode(folder.resolve())]
    assert recovery.scanned[0][1].new == 1


def test_damage_met_later_is_the_same_sentence(tmp_path: Path) -> None:
    """A page that only goes bad after the open check (SQLite says so mid-command)."""
    from app.core.storage.problems import explain

    path = tmp_path / "library.db"
    path.write_bytes(b"x")
    for text in ("database disk image is malformed", "file is not a database"):
        problem = explain(sqlite3.DatabaseError(text), path)
        assert isinstance(problem, LibraryDamaged) and "repair" in str(problem)
    folder = tmp_path / "folder.db"
    folder.mkdir()
    problem = explain(sqlite3.DatabaseError("file is not a database"), folder)
    assert problem is not None and not isinstance(problem, LibraryDamaged)


def test_an_app_left_open_takes_the_days_backup_but_never_of_a_damaged_library(
    tmp_path: Path,
) -> None:
    path = tmp_path / "library.db"
    make_library(path, rows=2)
    db = Database(path)
    try:
        (first,) = backups.backups(path)
        db.backup_if_due()  # the day's backup was taken at open
        assert len(backups.backups(path)) == 1
        a_day_ago = time.time() - backups.DAILY_S - 60
        os.utime(first.path, (a_day_ago, a_day_ago))
        db.backup_if_due()
        assert len(backups.backups(path)) == 2
        for backup in backups.backups(path):
            os.utime(backup.path, (a_day_ago, a_day_ago))
        db.damaged = LibraryDamaged(path, "malformed")
        db.backup_if_due()
        assert len(backups.backups(path)) == 2
    finally:
        db.close()
