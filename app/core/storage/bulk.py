"""Bulk statements on media_items, shaped for SQLite and its search-index triggers.

Every statement that fires the search-index triggers makes FTS5 flush its pending
data, so rows go in as multi-row INSERTs, id-only updates as one `WHERE id IN (...)`
each, and per-row values through a staged TEMP table applied with one
`UPDATE ... FROM`. `chunks` and `marks` are how every module that sends a list of
ids to SQLite keeps under its parameter limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import TypeVar

from sqlalchemy import Connection

T = TypeVar("T")
ROWS_PER_STATEMENT = 500  # rows (or ids) per multi-row statement
# A row for INSERT_COLUMNS, in their order: root_id, path, name, folder, kind, size,
# mtime_ns, added_at.
NewItem = tuple[int, bytes, str, str, str, int, int, float]


def chunks(values: Sequence[T], size: int = ROWS_PER_STATEMENT) -> Iterator[list[T]]:
    """`values` in lists of at most `size`: SQLite takes at most 32,766 parameters."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def update_ids(conn: Connection, assignments: str, ids: Sequence[int]) -> None:
    """UPDATE media_items SET `assignments` for these ids, 500 ids per statement."""
    for chunk in chunks(ids):
        conn.exec_driver_sql(
            f"UPDATE media_items SET {assignments} WHERE id IN ({marks(chunk)})", tuple(chunk)
        )


def update_from_rows(
    conn: Connection,
    columns: Sequence[str],
    rows: Sequence[tuple[object, ...]],
    assignments: str,
    where: str = "",
) -> None:
    """UPDATE media_items with different values per row in ONE statement.

    `rows` are (id, *columns); they are staged in a TEMP table (no triggers, so a
    plain executemany is cheap) and `assignments` reads them as `s.<column>`.
    `where` adds conditions on the target row (e.g. "AND media_items.state = 'new'").
    """
    if not rows:
        return
    names = ", ".join(columns)
    conn.exec_driver_sql("DROP TABLE IF EXISTS temp.staged_rows")
    conn.exec_driver_sql(f"CREATE TEMP TABLE staged_rows (id INTEGER PRIMARY KEY, {names})")
    try:
        conn.exec_driver_sql(
            f"INSERT INTO temp.staged_rows (id, {names}) VALUES (?{', ?' * len(columns)})",
            list(rows),
        )
        conn.exec_driver_sql(
            f"UPDATE media_items SET {assignments} FROM temp.staged_rows AS s "
            f"WHERE media_items.id = s.id {where}"
        )
    finally:
        conn.exec_driver_sql("DROP TABLE temp.staged_rows")


INSERT_COLUMNS = "root_id, path, name, folder, kind, size, mtime_ns, added_at"
# ON CONFLICT: a stale row at this path (say, from a removed folder) is reused.
INSERT_SQL = f"""INSERT INTO media_items ({INSERT_COLUMNS}, state) VALUES {{values}}
    ON CONFLICT(path) DO UPDATE SET root_id = excluded.root_id,
        name = excluded.name, folder = excluded.folder, kind = excluded.kind,
        size = excluded.size, mtime_ns = excluded.mtime_ns, fingerprint = NULL,
        state = 'new', last_error = NULL"""
INSERT_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, 'new')"


def insert_items(conn: Connection, rows: list[NewItem]) -> None:
    """Insert (or reuse the rows at these paths) with multi-row statements. Sorted by
    path first: the unique path index then takes them in order."""
    rows.sort(key=lambda row: row[1])
    for chunk in chunks(rows):
        sql = INSERT_SQL.format(values=",".join([INSERT_ROW] * len(chunk)))
        conn.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))
