"""Recovering a damaged library: the newest good backup, or a new library built from
its folders. The folders' files hold the user's own captions too, when the app wrote
them there (XMP with captionist:Source "me", see app.core.metadata): a scan of the
rebuilt library takes them in again as the user's captions; model captions are not
imported (the model captions those files again).

Qt-free: `captionist repair` and the window's recovery dialog are thin layers on this.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.core.library.library import Library, LibraryError
from app.core.library.reconcile import ScanReport
from app.core.storage import backups
from app.core.storage.db import Database


class NothingToRestore(Exception):
    """No backup of this library passes the check."""


class NoFolders(Exception):
    """Neither the damaged file nor a backup says which folders the library had."""


@dataclass
class Recovery:
    """What was done: where the damaged file went, and what came in its place."""

    set_aside: Path
    restored: backups.Backup | None = None
    scanned: list[tuple[bytes, ScanReport]] = field(default_factory=list)
    missing_folders: list[bytes] = field(default_factory=list)

    @property
    def user_captions(self) -> int:
        return sum(report.imported for _path, report in self.scanned)


def restore_newest(database: Path) -> Recovery:
    """Put the newest backup that passes `quick_check` in place of the library."""
    good = backups.newest_good_backup(database)
    if good is None:
        raise NothingToRestore(f"there is no good backup of {database}")
    aside = backups.restore(database, good)
    return Recovery(set_aside=aside, restored=good)


def rebuild(
    database: Path,
    folders: Sequence[str | bytes] = (),
    *,
    on_folder: Callable[[bytes, ScanReport], None] = lambda _f, _r: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Recovery:
    """A new library with the damaged one's folders (or `folders`), scanned: the
    damaged file is set aside first, never written. NoFolders (and nothing moved)
    when no folders are given or known."""
    wanted = [os.fsencode(f) for f in folders] or backups.recorded_roots(database)
    if not wanted:
        raise NoFolders(f"no folders of {database} could be read from it or its backups")
    aside = backups.set_aside(database)
    recovery = Recovery(set_aside=aside)
    db = Database(database)
    try:
        library = Library(db)
        for folder in wanted:
            try:
                root = library.add_root(folder)
            except LibraryError:
                recovery.missing_folders.append(folder)
                continue
            if should_stop():
                break
            report = library.scan(root.id, should_stop=should_stop)
            recovery.scanned.append((folder, report))
            on_folder(folder, report)
    finally:
        db.close()
    return recovery
