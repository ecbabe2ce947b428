"""What the database knows about media files, as a scan's hot loop reads it.

Reads straight from the sqlite3 cursor: building an object per row cost half a
second per 100,000 files, and every column read costs too. Items in a settled
state (see SETTLED_STATES) are read as (path, size, mtime_ns): all an unchanged
file needs. The rest, and any item that turns out to need work, are read as
KnownRow; KnownItem is made only for items that vanished.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from app.core.storage.bulk import chunks, marks
from app.core.storage.states import ItemState

# An unchanged file in one of these states needs no write at all. An item the user
# removed from the library stays removed while its file is unchanged; a changed file
# is a new version and comes back.
SETTLED_STATES = frozenset({ItemState.NEW, ItemState.OK, ItemState.REMOVED})  # not ERROR, MISSING

Settled = tuple[bytes, int, int]
# path, id, size, mtime, state, error, fingerprint (to tell a missing file that is back
# with a new modification time from another file at its path)
KnownRow = tuple[bytes, int, int, int, str, str | None, str | None]
KNOWN_ROW_COLUMNS = "path, id, size, mtime_ns, state, last_error, fingerprint"
SETTLED_SQL = "state IN ('new', 'ok', 'removed')"
UNSETTLED_SQL = "state IN ('error', 'missing')"  # every other state


@dataclass(frozen=True, slots=True)
class KnownItem:
    id: int
    path: bytes
    size: int
    mtime_ns: int
    state: str
    fingerprint: str | None
    last_error: str | None


KNOWN_COLUMNS = "id, path, size, mtime_ns, state, fingerprint, last_error"


def known_rows(conn: Connection, where: str, params: tuple[object, ...]) -> list[KnownItem]:
    sql = f"SELECT {KNOWN_COLUMNS} FROM media_items WHERE {where}"
    return [KnownItem(*row) for row in conn.exec_driver_sql(sql, params)]


def _by_path(conn: Connection, sql: str, params: Sequence[object]) -> dict[bytes, Any]:
    """{first column: row} for a query, read with the raw cursor."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return {row[0]: row for row in cursor.fetchall()}
    finally:
        cursor.close()


def known_in_root(
    conn: Connection, root_id: int
) -> tuple[dict[bytes, Settled], dict[bytes, KnownRow]]:
    """The items of a root by path: the settled ones, and the others (few; read
    through the state index: "+root_id" keeps SQLite from reading the whole root)."""
    settled = _by_path(
        conn,
        f"SELECT path, size, mtime_ns FROM media_items WHERE root_id = ? AND {SETTLED_SQL}",
        (root_id,),
    )
    others = _by_path(
        conn,
        f"SELECT {KNOWN_ROW_COLUMNS} FROM media_items WHERE {UNSETTLED_SQL} AND +root_id = ?",
        (root_id,),
    )
    return settled, others


def known_at(conn: Connection, paths: Sequence[bytes]) -> dict[bytes, KnownRow]:
    """{path: KnownRow} of the items at these paths."""
    out: dict[bytes, KnownRow] = {}
    for chunk in chunks(paths):
        sql = f"SELECT {KNOWN_ROW_COLUMNS} FROM media_items WHERE path IN ({marks(chunk)})"
        out.update(_by_path(conn, sql, chunk))
    return out


def known_items_at(conn: Connection, paths: Sequence[bytes]) -> list[KnownItem]:
    """Full KnownItems (with fingerprints, for move matching) at these paths."""
    out: list[KnownItem] = []
    for chunk in chunks(paths):
        out.extend(known_rows(conn, f"path IN ({marks(chunk)})", tuple(chunk)))
    return out


def first_new_id(conn: Connection) -> int:
    """The id the next inserted item gets: items from it on are new in this pass."""
    return int(
        conn.exec_driver_sql("SELECT coalesce(max(id), 0) + 1 FROM media_items").scalar_one()
    )


def sizes_taken(conn: Connection, sizes: Sequence[int], before_id: int) -> set[int]:
    """Which of these file sizes an item older than `before_id` has."""
    taken: set[int] = set()
    for chunk in chunks(sizes):
        taken.update(
            row[0]
            for row in conn.exec_driver_sql(
                f"SELECT DISTINCT size FROM media_items WHERE size IN ({marks(chunk)}) AND id < ?",
                (*chunk, before_id),
            )
        )
    return taken
