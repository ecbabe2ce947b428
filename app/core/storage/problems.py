"""What can be wrong with where the library lives, in one sentence each.

The database file, its folder and the disk belong to the user's machine: a folder
that is read-only, a file where the data directory should be, a folder where the
database should be, a full disk or a file size limit, another process holding the
write lock. None of these is a bug, so none is shown as a traceback.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from sqlalchemy.exc import DBAPIError

# The CLI's exit code (and the caption worker's) for any of these.
EXIT_STORAGE = 6
# ...and for a damaged library, which `captionist repair` recovers.
EXIT_DAMAGED = 7


class StorageProblem(Exception):
    """The library's storage cannot be used as asked; the message is for the user."""


class LibraryDamaged(StorageProblem):
    """The library file is damaged (truncated, overwritten, not a database at all).
    Nothing more is written into it; `repair` restores a backup or rebuilds it."""

    def __init__(self, database: Path, detail: str = "") -> None:
        self.database = database
        # SQLite's own text can run over lines ("*** in database main ***\nPage 43: …"):
        # the user gets one sentence.
        detail = " ".join(detail.split())
        self.detail = detail
        super().__init__(
            f"the library {database} is damaged ({detail or 'database disk image is malformed'})"
            ": run `captionist repair` to restore the newest good backup, or "
            "`captionist repair --rebuild` to rebuild it from its folders"
        )


class LibraryBusy(StorageProblem):
    """Another process held the write lock longer than this one was willing to wait."""


def is_busy(exc: BaseException) -> bool:
    text = str(_sqlite_error(exc) or exc)
    return "database is locked" in text or "database is busy" in text


def _sqlite_error(exc: BaseException) -> BaseException | None:
    if isinstance(exc, DBAPIError):
        return exc.orig
    return exc if isinstance(exc, sqlite3.Error) else None


def explain(exc: BaseException, database: Path) -> StorageProblem | None:
    """The user's sentence for an environment problem, or None if `exc` is not one."""
    if isinstance(exc, StorageProblem):
        return exc
    folder = database.parent
    raw = _sqlite_error(exc)
    if raw is not None:
        text = str(raw).lower()
        if "locked" in text or "busy" in text:
            return LibraryBusy(
                f"the library {database} is busy: another Captionist process is writing "
                "to it; try again when it has finished"
            )
        if "full" in text:
            return StorageProblem(_full(folder))
        if "readonly" in text or "read-only" in text:
            return StorageProblem(_read_only(folder))
        if "malformed" in text or ("not a database" in text and database.is_file()):
            return LibraryDamaged(database, str(raw))
        if "unable to open" in text or "not a database" in text:
            return StorageProblem(_cannot_open(database))
        if "disk i/o error" in text:
            return StorageProblem(
                f"could not write the library in {folder} (a disk error, or a file size "
                "limit reached): check the disk, free some space, then try again"
            )
        return None
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return StorageProblem(_full(folder))
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return StorageProblem(_read_only(folder))
    return None


def _full(folder: Path) -> str:
    return (
        f"the disk holding {folder} is full (or a file size limit was reached): "
        "free some space, then try again"
    )


def _read_only(folder: Path) -> str:
    return (
        f"the library folder {folder} is read-only for you: make it writable, or "
        "choose another folder with --data-dir"
    )


def _cannot_open(database: Path) -> str:
    if database.is_dir():
        return (
            f"{database} is a folder, not a library database: move it out of the way, "
            "or choose another folder with --data-dir"
        )
    return (
        f"cannot open the library database {database}: check that it is a Captionist "
        "library and readable, or choose another folder with --data-dir"
    )
