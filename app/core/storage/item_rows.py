"""Raw reads and writes of media items that the library, the scanner and the panels
ask for by id or by path.

Here, not in their callers, so that raw SQL stays in app/core/storage. Paths are
stored as bytes, so "under a folder" is a range on the unique path index
(roots.subtree_bounds gives its bounds) rather than a LIKE that reads the table.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from app.core.storage.bulk import chunks, marks
from app.core.storage.db import AnyRow
from app.core.storage.job_rows import suspend_jobs
from app.core.storage.states import HAS_CAPTION, HAS_USER_CAPTION, IN_LIBRARY, RESTORED_STATE


# -- reads ---------------------------------------------------------------------------------
def in_library(conn: Connection, item_ids: Sequence[int]) -> list[int]:
    """The items among `item_ids` that are in the library (not missing or removed)."""
    return [
        r[0]
        for ids in chunks(item_ids)
        for r in conn.exec_driver_sql(
            f"SELECT m.id FROM media_items m WHERE {IN_LIBRARY} AND m.id IN ({marks(ids)})",
            tuple(ids),
        )
    ]


def count_user_captioned(conn: Connection, item_ids: Sequence[int]) -> int:
    """How many of `item_ids` have a caption the user wrote (for the whole item)."""
    return sum(
        conn.exec_driver_sql(
            f"SELECT count(*) FROM media_items m WHERE m.id IN ({marks(ids)}) "
            f"AND {HAS_USER_CAPTION}",
            tuple(ids),
        ).scalar_one()
        for ids in chunks(item_ids)
    )


def item_row(conn: Connection, item_id: int) -> AnyRow | None:
    """(id, path, name, folder, kind, size, mtime_ns, width, height, duration, taken_at,
    state, last_error, reviewed_caption_id) of one item, for the details panel."""
    return conn.exec_driver_sql(
        """SELECT id, path, name, folder, kind, size, mtime_ns, width, height, duration,
                  taken_at, state, last_error, reviewed_caption_id
           FROM media_items WHERE id = ?""",
        (item_id,),
    ).first()


def item_summary(conn: Connection, item_id: int) -> tuple[int, str, str, str] | None:
    """(id, name, folder, kind) of one item, or None."""
    row = conn.exec_driver_sql(
        "SELECT id, name, folder, kind FROM media_items WHERE id = ?", (item_id,)
    ).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


def item_at(conn: Connection, path: bytes) -> tuple[int, str, str | None] | None:
    """(id, state, last_error) of the item at `path`, or None."""
    row = conn.exec_driver_sql(
        "SELECT id, state, last_error FROM media_items WHERE path = ?", (path,)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def items_at(conn: Connection, path: bytes) -> list[tuple[int, str, bytes]]:
    """(id, state, path) of the items at `path` (at most one: paths are unique)."""
    return [
        (r[0], r[1], r[2])
        for r in conn.exec_driver_sql(
            "SELECT id, state, path FROM media_items WHERE path = ?", (path,)
        )
    ]


def usable_ids_between(conn: Connection, low: bytes, high: bytes) -> list[int]:
    """Ids of the items with low < path < high (a folder's subtree) that are in the
    library and readable, in path order."""
    rows = conn.exec_driver_sql(
        "SELECT id FROM media_items WHERE path > ? AND path < ? "
        "AND state NOT IN ('missing', 'removed', 'error') ORDER BY path",
        (low, high),
    ).all()
    return [int(r[0]) for r in rows]


def paths_at_or_between(
    conn: Connection, path: bytes, low: bytes, high: bytes
) -> list[tuple[int, bytes, str]]:
    """(id, path, state) of the item at `path` and those with low < path < high (below it)."""
    rows = conn.exec_driver_sql(
        "SELECT id, path, state FROM media_items WHERE path = ? OR (path > ? AND path < ?)",
        (path, low, high),
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def paths_in_root(conn: Connection, root_id: int) -> list[tuple[int, bytes]]:
    """(id, path) of every item of a root."""
    rows = conn.exec_driver_sql(
        "SELECT id, path FROM media_items WHERE root_id = ?", (root_id,)
    ).all()
    return [(r[0], r[1]) for r in rows]


def uncaptioned_ok(conn: Connection, item_ids: Sequence[int]) -> list[int]:
    """The items among `item_ids` that read fine and have no caption."""
    return [
        row[0]
        for chunk in chunks(item_ids)
        for row in conn.exec_driver_sql(
            f"""SELECT m.id FROM media_items m WHERE m.id IN ({marks(chunk)})
                AND m.state = 'ok' AND NOT {HAS_CAPTION}""",
            tuple(chunk),
        )
    ]


def unprobed_in_roots(
    conn: Connection, root_ids: Sequence[int]
) -> list[tuple[int, bytes, str, int]]:
    """(id, path, kind, mtime_ns) of the items in state "new" under these roots, by id."""
    # "+root_id": the state index finds the few new items; the root_id index
    # would read every item of the root (25 ms per 100,000 on a rescan).
    rows = conn.exec_driver_sql(
        f"SELECT id, path, kind, mtime_ns FROM media_items "
        f"WHERE state = 'new' AND +root_id IN ({marks(root_ids)}) ORDER BY id",
        tuple(root_ids),
    ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def unreadable_among(conn: Connection, item_ids: Sequence[int]) -> list[tuple[int, bytes, str]]:
    """(id, path, kind) of the items among `item_ids` whose file could not be read."""
    return [
        (row[0], row[1], row[2])
        for chunk in chunks(item_ids)
        for row in conn.exec_driver_sql(
            f"SELECT id, path, kind FROM media_items WHERE state = 'error' "
            f"AND id IN ({marks(chunk)})",
            tuple(chunk),
        )
    ]


def library_counts(conn: Connection) -> AnyRow:
    """(in library, photos, videos, captioned, unreadable, missing) in one pass."""
    return conn.exec_driver_sql(
        f"""SELECT
             count(*) FILTER (WHERE {IN_LIBRARY}),
             count(*) FILTER (WHERE {IN_LIBRARY} AND m.kind = 'photo'),
             count(*) FILTER (WHERE {IN_LIBRARY} AND m.kind = 'video'),
             count(*) FILTER (WHERE {IN_LIBRARY} AND {HAS_CAPTION}),
             count(*) FILTER (WHERE m.state = 'error'),
             count(*) FILTER (WHERE m.state = 'missing')
           FROM media_items m"""
    ).one()


# -- writes --------------------------------------------------------------------------------
def mark_missing(conn: Connection, item_ids: Sequence[int], stamp: float) -> None:
    """The items' files are gone: mark them missing (captions kept) and suspend their
    open jobs, which would only fail ("no longer in the library") and flood the
    Errors view; they come back with the file (`job_rows.resume_jobs`)."""
    update_ids = "UPDATE media_items SET state = 'missing' WHERE id IN ({})"
    for chunk in chunks(item_ids):
        conn.exec_driver_sql(update_ids.format(marks(chunk)), tuple(chunk))
    suspend_jobs(conn, item_ids, stamp)


def move_missing_item(conn: Connection, item_id: int, path: bytes) -> None:
    """Give a missing item another path (present items keep theirs)."""
    conn.exec_driver_sql(
        "UPDATE media_items SET path = ? WHERE id = ? AND state = 'missing'", (path, item_id)
    )


def record_file(conn: Connection, item_id: int, size: int, mtime_ns: int, fingerprint: str) -> None:
    """Record an item's file as it is now: size, modification time and fingerprint."""
    conn.exec_driver_sql(
        "UPDATE media_items SET size = ?, mtime_ns = ?, fingerprint = ? WHERE id = ?",
        (size, mtime_ns, fingerprint, item_id),
    )


def store_reprobes(conn: Connection, updates: Sequence[tuple[object, ...]]) -> None:
    """Store files read again: rows of (size, mtime_ns, fingerprint, width, height,
    duration, taken_at, state, last_error, id); a None size, mtime or fingerprint keeps
    the old one. Only items still unreadable are changed."""
    conn.exec_driver_sql(
        """UPDATE media_items SET size = coalesce(?, size),
               mtime_ns = coalesce(?, mtime_ns), fingerprint = coalesce(?, fingerprint),
               width = ?, height = ?, duration = ?, taken_at = ?, state = ?,
               last_error = ?
           WHERE id = ? AND state = 'error'""",
        updates,
    )


def purge_missing(conn: Connection) -> int:
    """Delete missing items (their captions cascade away). Returns how many."""
    return conn.exec_driver_sql("DELETE FROM media_items WHERE state = 'missing'").rowcount


def remove_from_library(conn: Connection, item_ids: Sequence[int], stamp: float) -> int:
    """Mark the items that are in the library "removed" and cancel their open jobs.
    Returns how many items were removed."""
    removed = 0
    for ids in chunks(item_ids):
        conn.exec_driver_sql(
            f"UPDATE jobs SET state = 'cancelled', updated_at = ? "
            f"WHERE state IN ('queued', 'running') AND item_id IN ({marks(ids)})",
            (stamp, *ids),
        )
        removed += conn.exec_driver_sql(
            f"UPDATE media_items AS m SET state = 'removed' "
            f"WHERE {IN_LIBRARY} AND m.id IN ({marks(ids)})",
            tuple(ids),
        ).rowcount
    return removed


def restore_removed(conn: Connection, item_ids: Sequence[int]) -> int:
    """Bring removed items back in the state they had. Returns how many."""
    restored = 0
    for ids in chunks(item_ids):
        restored += conn.exec_driver_sql(
            f"UPDATE media_items SET state = {RESTORED_STATE} "
            f"WHERE state = 'removed' AND id IN ({marks(ids)})",
            tuple(ids),
        ).rowcount
    return restored
