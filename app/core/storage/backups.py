"""Keeping the library safe: rolling backups, a damage check, restoring, setting a
damaged file aside.

The library holds the user's own captions and corrections, the one thing the app
cannot make again. So:
- a backup is taken with SQLite's online backup API (a consistent copy even while
  another process writes) before each migration and at most once a day at open,
  only of a library that passes `PRAGMA quick_check`, and only the newest few of each
  kind are kept (the daily ones and those taken before a migration are counted apart,
  so a run of upgrades cannot push every daily copy out, nor a week of days the copy
  from before the last upgrade);
- a damaged library is only ever read (SQLite's `mode=ro`), never written: it is moved
  aside with its -wal and -shm (a WAL applied to another file would damage that too)
  and a good backup, or a new library, takes its place.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

BACKUP_FOLDER = "backups"
KEEP = 5  # daily backups (and any other routine reason)
KEEP_BEFORE_MIGRATION = 2
MIGRATION_PREFIX = "before-"
DAILY_S = 24 * 3600
COMPANIONS = ("-wal", "-shm", "-journal")
_PREFIX, _SUFFIX = "library-", ".db"


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    taken_at: float

    @property
    def label(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.taken_at))


def backup_folder(database: Path) -> Path:
    return database.parent / BACKUP_FOLDER


def backups(database: Path) -> list[Backup]:
    """The backups of this library, newest first."""
    folder = backup_folder(database)
    if not folder.is_dir():
        return []
    found = [
        Backup(p, p.stat().st_mtime)
        for p in folder.iterdir()
        if p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX) and p.is_file()
    ]
    return sorted(found, key=lambda b: (b.taken_at, b.path.name), reverse=True)


def damage(database: Path) -> str | None:
    """What is wrong with the file, in SQLite's words, or None if it looks sound.

    Read-only: a damaged file is never written, not even a WAL checkpoint on close."""
    if not database.is_file() or database.stat().st_size == 0:
        return None  # no library yet (SQLite makes a new one)
    try:
        conn = sqlite3.connect(f"file:{quote(str(database))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
    problems = [str(r[0]) for r in rows if r[0] != "ok"]
    return "; ".join(problems[:3]) if problems else None


def take_backup(database: Path, reason: str, *, keep: int | None = None) -> Path | None:
    """A copy of a sound library in the backup folder (None if there is nothing to
    copy, or the library is damaged: a damaged copy would push a good one out)."""
    if damage(database) is not None or not database.is_file():
        return None
    if database.stat().st_size == 0:
        return None
    folder = backup_folder(database)
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder / f"{_PREFIX}{stamp}-{reason}{_SUFFIX}"
    n = 1
    while target.exists():  # two in the same second: keep both
        n += 1
        target = folder / f"{_PREFIX}{stamp}-{reason}-{n}{_SUFFIX}"
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        _copy(database, partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    _prune(database, reason, keep)
    return target


def _copy(source: Path, target: Path) -> None:
    """SQLite's online backup: consistent even while another process writes."""
    target.unlink(missing_ok=True)
    reader = sqlite3.connect(f"file:{quote(str(source))}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(target)
        try:
            reader.backup(copy)
            # One self-contained file, whatever the library's journal mode.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        reader.close()


def daily_backup(database: Path, *, keep: int = KEEP, now: float | None = None) -> Path | None:
    """A backup if the newest daily one is a day old or more (or there is none)."""
    newest = [b for b in backups(database) if not is_before_migration(b)]
    moment = time.time() if now is None else now
    if newest and moment - newest[0].taken_at < DAILY_S:
        return None
    return take_backup(database, "daily", keep=keep)


def is_before_migration(backup: Backup) -> bool:
    return backup.path.stem.split("-", 3)[-1].startswith(MIGRATION_PREFIX)


def _prune(database: Path, reason: str, keep: int | None) -> None:
    """Drop the oldest backups of the kind just taken beyond `keep` of that kind."""
    migration = reason.startswith(MIGRATION_PREFIX)
    if keep is None:
        keep = KEEP_BEFORE_MIGRATION if migration else KEEP
    same_kind = [b for b in backups(database) if is_before_migration(b) == migration]
    for old in same_kind[keep:]:
        old.path.unlink(missing_ok=True)


def newest_good_backup(database: Path) -> Backup | None:
    return next((b for b in backups(database) if damage(b.path) is None), None)


def set_aside(database: Path) -> Path:
    """Move the library file and its companions out of the way, under a name that
    says when; returns the new name of the database file."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = database.with_name(f"{database.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = database.with_name(f"{database.name}.damaged-{stamp}-{n}")
    if database.exists():
        os.replace(database, aside)
    for suffix in COMPANIONS:
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            os.replace(companion, aside.with_name(aside.name + suffix))
    return aside


def restore(database: Path, backup: Backup) -> Path:
    """Put `backup` in place of the library (a copy: the backup stays); the current
    file is set aside. Returns where it went."""
    staged = database.with_name(f".{database.name}.restoring")
    _copy(backup.path, staged)
    aside = set_aside(database)
    os.replace(staged, database)
    return aside


def recorded_roots(database: Path) -> list[bytes]:
    """The folders the library had, read (read-only) from the damaged file if that
    part of it still reads, else from the newest good backup; [] if from neither."""
    sources = [database] + [b.path for b in backups(database)]
    for source in sources:
        if not source.is_file():
            continue
        try:
            conn = sqlite3.connect(f"file:{quote(str(source))}?mode=ro", uri=True)
            try:
                rows = conn.execute("SELECT path FROM roots WHERE enabled").fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            continue
        found = [bytes(r[0]) if not isinstance(r[0], str) else os.fsencode(r[0]) for r in rows]
        if found:
            return found
    return []
