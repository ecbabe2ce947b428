"""What the gallery shows: the ids of a view in order, and the rows on screen.

The grid holds ids only (100,000 ints cost under a megabyte); rows are read for the
few hundred items near the viewport, in one query per batch. Both run off the GUI
thread. The smart views are SQL conditions on `media_items m`, so a view of
100,000 items is one indexed scan, not a Python filter.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.captions import CURRENT_ITEM_CAPTION
from app.core.storage.bulk import chunks, marks
from app.core.storage.db import Database
from app.core.storage.states import HAS_CAPTION, HAS_USER_CAPTION, IN_LIBRARY

NEWEST_JOB = """(SELECT j.{column} FROM jobs j WHERE j.item_id = m.id AND j.kind = 'caption'
    ORDER BY j.id DESC LIMIT 1)"""

VIEWS: dict[str, str] = {
    "all": "1",
    "photos": "m.kind = 'photo'",
    "videos": "m.kind = 'video'",
    "uncaptioned": f"NOT {HAS_CAPTION}",
    # The current caption is the model's and not the one the user accepted.
    "needs_review": f"""NOT {HAS_USER_CAPTION}
        AND (SELECT max(c.id) FROM captions c WHERE c.item_id = m.id
             AND c.keyframe_id IS NULL) IS NOT coalesce(m.reviewed_caption_id, -1)
        AND {HAS_CAPTION}""",
    "by_me": HAS_USER_CAPTION,
    "errors": f"(m.state = 'error' OR {NEWEST_JOB.format(column='state')} = 'failed')",
}
VIEW_TITLES = {
    "all": "All",
    "photos": "Photos",
    "videos": "Videos",
    "uncaptioned": "Uncaptioned",
    "needs_review": "Needs review",
    "by_me": "Captioned by me",
    "errors": "Errors",
}
# Date taken falls back to the file's time, so photos without EXIF and videos sort
# among the others instead of all at one end.
TAKEN_OR_MTIME = (
    "coalesce(m.taken_at, strftime('%Y-%m-%dT%H:%M:%S', m.mtime_ns / 1e9, 'unixepoch', "
    "'localtime'))"
)
SORTS: dict[str, str] = {
    "taken": TAKEN_OR_MTIME,
    "name": "m.name COLLATE NOCASE",
    "added": "m.added_at",
}
SORT_TITLES = {"taken": "Date taken", "name": "Name", "added": "Date added"}


@dataclass(frozen=True, slots=True)
class GalleryQuery:
    view: str = "all"
    root_id: int | None = None
    sort: str = "taken"
    descending: bool = True

    def where(self) -> tuple[str, tuple[int, ...]]:
        if self.view not in VIEWS:
            raise ValueError(f"unknown view {self.view!r}")
        sql = f"{IN_LIBRARY} AND {VIEWS[self.view]}"
        if self.root_id is None:
            return sql, ()
        return sql + " AND m.root_id = ?", (self.root_id,)


@dataclass(frozen=True, slots=True)
class GalleryRow:
    """Everything a thumbnail cell and its tooltip show."""

    id: int
    path: str
    name: str
    kind: str
    size: int
    mtime_ns: int
    width: int | None
    height: int | None
    duration: float | None
    taken_at: str | None
    state: str
    error: str | None
    caption: str | None
    tags: tuple[str, ...]
    source: str | None  # "model" | "user" | None (no caption yet)
    reviewed: bool  # the model caption was accepted as is
    job: str | None  # newest caption job: queued | running | done | failed | cancelled
    job_error: str | None

    @property
    def needs_review(self) -> bool:
        return self.source == "model" and not self.reviewed


def gallery_ids(db: Database, query: GalleryQuery) -> list[int]:
    """The ids of a view, in display order."""
    if query.sort not in SORTS:
        raise ValueError(f"unknown sort {query.sort!r}")
    where, params = query.where()
    direction = "DESC" if query.descending else "ASC"
    sql = (
        f"SELECT m.id FROM media_items m WHERE {where} "
        f"ORDER BY {SORTS[query.sort]} {direction}, m.id {direction}"
    )
    with db.read() as conn:
        return [row[0] for row in conn.exec_driver_sql(sql, params)]


def view_counts(db: Database, root_id: int | None = None) -> dict[str, int]:
    """How many items each smart view holds (for the sidebar), in one pass."""
    columns = ", ".join(f"count(*) FILTER (WHERE {cond})" for cond in VIEWS.values())
    where, params = GalleryQuery(root_id=root_id).where()
    with db.read() as conn:
        row = conn.exec_driver_sql(
            f"SELECT {columns} FROM media_items m WHERE {where}", params
        ).one()
    return dict(zip(VIEWS, row, strict=True))


ROW_SQL = f"""SELECT m.id, m.path, m.name, m.kind, m.size, m.mtime_ns, m.width, m.height,
        m.duration, m.taken_at, m.state, m.last_error, c.text, c.tags, c.source,
        c.id IS NOT NULL AND c.id = m.reviewed_caption_id,
        {NEWEST_JOB.format(column='state')}, {NEWEST_JOB.format(column='last_error')}
    FROM media_items m LEFT JOIN captions c ON c.id = {CURRENT_ITEM_CAPTION}
    WHERE m.id IN ({{marks}})"""


def gallery_rows(db: Database, item_ids: Sequence[int]) -> dict[int, GalleryRow]:
    """The rows of these items (those still in the library), by id."""
    rows: dict[int, GalleryRow] = {}
    with db.read() as conn:
        for chunk in chunks(item_ids):
            sql = ROW_SQL.format(marks=marks(chunk))
            for r in conn.exec_driver_sql(sql, tuple(chunk)):
                rows[r[0]] = GalleryRow(
                    id=r[0],
                    path=os.fsdecode(r[1]),
                    name=r[2],
                    kind=r[3],
                    size=r[4],
                    mtime_ns=r[5],
                    width=r[6],
                    height=r[7],
                    duration=r[8],
                    taken_at=r[9],
                    state=r[10],
                    error=r[11],
                    caption=r[12],
                    tags=tuple(json.loads(r[13])) if r[13] else (),
                    source=r[14],
                    reviewed=bool(r[15]),
                    job=r[16],
                    job_error=r[17],
                )
    return rows
