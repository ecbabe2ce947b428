"""The gallery's SQL: the smart views as conditions on `media_items m`, the sort
orders, and the reads of a view's ids, its counts and the rows on screen.

Here, not in app.core.gallery, so that raw SQL stays in app/core/storage. The text
is performance-sensitive (tests/benchmarks/bench_gallery.py): a view of 100,000
items is one indexed scan, not a Python filter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Connection

from app.core.storage.bulk import chunks, marks
from app.core.storage.caption_rows import CURRENT_ITEM_CAPTION
from app.core.storage.db import AnyRow
from app.core.storage.states import HAS_CAPTION, HAS_USER_CAPTION

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

ROW_SQL = f"""SELECT m.id, m.path, m.name, m.kind, m.size, m.mtime_ns, m.width, m.height,
        m.duration, m.taken_at, m.state, m.last_error, c.text, c.tags, c.source,
        c.id IS NOT NULL AND c.id = m.reviewed_caption_id,
        {NEWEST_JOB.format(column="state")}, {NEWEST_JOB.format(column="last_error")}
    FROM media_items m LEFT JOIN captions c ON c.id = {CURRENT_ITEM_CAPTION}
    WHERE m.id IN ({{marks}})"""


def view_ids(
    conn: Connection, where: str, params: tuple[int, ...], sort: str, descending: bool
) -> list[int]:
    """The ids of the items matching `where` (over `m`), in the order of SORTS[sort]."""
    direction = "DESC" if descending else "ASC"
    sql = (
        f"SELECT m.id FROM media_items m WHERE {where} "
        f"ORDER BY {SORTS[sort]} {direction}, m.id {direction}"
    )
    return [row[0] for row in conn.exec_driver_sql(sql, params)]


def view_counts_row(conn: Connection, where: str, params: tuple[int, ...]) -> AnyRow:
    """How many of the items matching `where` each of VIEWS holds, in VIEWS order."""
    columns = ", ".join(f"count(*) FILTER (WHERE {cond})" for cond in VIEWS.values())
    return conn.exec_driver_sql(f"SELECT {columns} FROM media_items m WHERE {where}", params).one()


def row_tuples(conn: Connection, item_ids: Sequence[int]) -> Iterator[AnyRow]:
    """The rows of ROW_SQL for these items, one query per chunk of ids."""
    for chunk in chunks(item_ids):
        sql = ROW_SQL.format(marks=marks(chunk))
        yield from conn.exec_driver_sql(sql, tuple(chunk))
