"""Helpers shared by the scanner tests: reading items, captions and jobs back from the
real database, and making many small media files quickly."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from app.core.library.library import Library
from app.core.storage.db import Database
from tests.media_factory import write_photo

ITEM_COLUMNS = (
    "id, path, name, folder, root_id, kind, size, state, width, height, duration, "
    "taken_at, last_error, fingerprint"
)


@dataclass(frozen=True)
class Item:
    id: int
    path: bytes
    name: str
    folder: str
    root_id: int
    kind: str
    size: int
    state: str
    width: int | None
    height: int | None
    duration: float | None
    taken_at: str | None
    last_error: str | None
    fingerprint: str | None


def fs(path: Path | str | bytes) -> bytes:
    return os.fsencode(path)


def items(db: Database) -> dict[bytes, Item]:
    """Every media item, keyed by its stored (bytes) path."""
    with db.read() as conn:
        rows = conn.exec_driver_sql(f"SELECT {ITEM_COLUMNS} FROM media_items").all()
    return {bytes(row[1]): Item(row[0], bytes(row[1]), *row[2:]) for row in rows}


def item_at(db: Database, path: Path | str | bytes) -> Item:
    found = items(db).get(fs(path))
    assert found is not None, f"no item at {path!r}; items: {sorted(items(db))}"
    return found


def item_by_id(db: Database, item_id: int) -> Item | None:
    return next((i for i in items(db).values() if i.id == item_id), None)


def jobs_by_item(db: Database, state: str = "queued") -> dict[int, int]:
    """item id -> number of caption jobs in `state`."""
    with db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT item_id, count(*) FROM jobs WHERE kind = 'caption' AND state = ? "
            "GROUP BY item_id",
            (state,),
        ).all()
    return dict(rows)


def caption_count(db: Database, item_id: int) -> int:
    with db.read() as conn:
        return conn.exec_driver_sql(
            "SELECT count(*) FROM captions WHERE item_id = ?", (item_id,)
        ).scalar_one()


def finish_all_jobs(library: Library) -> int:
    """Play the caption worker: claim and finish every queued job."""
    done = 0
    while (job := library.jobs.claim_next()) is not None:
        library.jobs.finish(job.id)
        done += 1
    return done


def tiny_jpeg(path: Path) -> bytes:
    """A real, small JPEG's bytes (written once at `path`) to copy many times."""
    return write_photo(path, "coffee", size=(24, 16), quality=70).read_bytes()


def copy_preserving(src: Path, dst: Path) -> None:
    """Copy a file with its modification time, as a restore from a backup would."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
