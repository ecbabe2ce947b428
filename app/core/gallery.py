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
from typing import TYPE_CHECKING

from app.core.storage.db import Database
from app.core.storage.gallery_sql import SORTS, VIEWS, row_tuples, view_counts_row, view_ids
from app.core.storage.states import IN_LIBRARY

if TYPE_CHECKING:  # for the annotation only: the module imports the image decoders
    from app.core.media.thumbnails import Kind

VIEW_TITLES = {
    "all": "All",
    "photos": "Photos",
    "videos": "Videos",
    "uncaptioned": "Uncaptioned",
    "needs_review": "Needs review",
    "by_me": "Captioned by me",
    "errors": "Errors",
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
    kind: Kind  # as the scanner stored it: media_items.kind is only ever these two
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
    with db.read() as conn:
        return view_ids(conn, where, params, query.sort, query.descending)


def view_counts(db: Database, root_id: int | None = None) -> dict[str, int]:
    """How many items each smart view holds (for the sidebar), in one pass."""
    where, params = GalleryQuery(root_id=root_id).where()
    with db.read() as conn:
        row = view_counts_row(conn, where, params)
    return dict(zip(VIEWS, row, strict=True))


def gallery_rows(db: Database, item_ids: Sequence[int]) -> dict[int, GalleryRow]:
    """The rows of these items (those still in the library), by id."""
    rows: dict[int, GalleryRow] = {}
    with db.read() as conn:
        for r in row_tuples(conn, item_ids):
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
