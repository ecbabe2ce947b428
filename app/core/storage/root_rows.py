"""Raw reads and writes of the roots table (the folders the user added).

Here, not in app.core.library, so that raw SQL stays in app/core/storage.
"""

from __future__ import annotations

from sqlalchemy import Connection

from app.core.storage.db import now
from app.core.storage.job_rows import suspend_jobs_of_root


def root_paths(conn: Connection, *, enabled_only: bool = True) -> list[tuple[int, bytes]]:
    """(id, path) of the roots (the enabled ones, unless told otherwise)."""
    sql = "SELECT id, path FROM roots" + (" WHERE enabled" if enabled_only else "")
    return [(row[0], row[1]) for row in conn.exec_driver_sql(sql)]


def insert_root(conn: Connection, path: bytes, added_at: float) -> int:
    """A new enabled, unwatched root; returns its id."""
    root_id = conn.exec_driver_sql(
        "INSERT INTO roots (path, enabled, added_at, watch_state) VALUES (?, 1, ?, 'off')",
        (path, added_at),
    ).lastrowid
    assert root_id is not None
    return root_id


def enable_root(conn: Connection, root_id: int) -> None:
    conn.exec_driver_sql("UPDATE roots SET enabled = 1 WHERE id = ?", (root_id,))


def delete_root(conn: Connection, root_id: int) -> None:
    """Delete a root; its items (and their captions) cascade away."""
    conn.exec_driver_sql("DELETE FROM roots WHERE id = ?", (root_id,))


def disable_root(conn: Connection, root_id: int) -> None:
    """Take a root out of the library, keeping its items: the root is disabled and
    unwatched, its items missing, their open jobs suspended (they come back with the
    folder)."""
    conn.exec_driver_sql(
        "UPDATE roots SET enabled = 0, watch_state = 'off' WHERE id = ?", (root_id,)
    )
    conn.exec_driver_sql("UPDATE media_items SET state = 'missing' WHERE root_id = ?", (root_id,))
    suspend_jobs_of_root(conn, root_id, now())


def set_watch_state(conn: Connection, root_id: int, state: str, note: str | None) -> None:
    conn.exec_driver_sql(
        "UPDATE roots SET watch_state = ?, watch_note = ? WHERE id = ?",
        (state, note, root_id),
    )


def set_last_scan(conn: Connection, root_id: int, when: float) -> None:
    conn.exec_driver_sql("UPDATE roots SET last_scan_at = ? WHERE id = ?", (when, root_id))
