"""Raw reads and writes of the roots table (the folders the user added).

Here, not in app.core.library, so that raw SQL stays in app/core/storage.
"""

from __future__ import annotations

from sqlalchemy import Connection

from app.core.storage.db import now
from app.core.storage.job_rows import resume_jobs, suspend_jobs_of_root
from app.core.storage.states import IN_LIBRARY, OUT_OF_LIBRARY


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
    folder). Items the user removed from the library stay removed."""
    conn.exec_driver_sql(
        "UPDATE roots SET enabled = 0, watch_state = 'off' WHERE id = ?", (root_id,)
    )
    conn.exec_driver_sql(
        "UPDATE media_items SET state = 'missing' WHERE root_id = ? AND state != 'removed'",
        (root_id,),
    )
    suspend_jobs_of_root(conn, root_id, now())


def root_item_states(conn: Connection, root_id: int) -> list[tuple[int, str]]:
    """(item id, state) of every item of a root, whatever its state."""
    rows = conn.exec_driver_sql("SELECT id, state FROM media_items WHERE root_id = ?", (root_id,))
    return [(row[0], row[1]) for row in rows]


def root_summary(conn: Connection, root_id: int) -> tuple[bytes, int] | None:
    """(path, items in the library) of an enabled root; None if there is none."""
    row = conn.exec_driver_sql(
        "SELECT path FROM roots WHERE id = ? AND enabled", (root_id,)
    ).first()
    if row is None:
        return None
    count = conn.exec_driver_sql(
        f"SELECT count(*) FROM media_items m WHERE m.root_id = ? AND {IN_LIBRARY}", (root_id,)
    ).scalar_one()
    return row[0], int(count)


def reenable_root(
    conn: Connection, root_id: int, states: list[tuple[int, str]], stamp: float
) -> list[int]:
    """Undo `disable_root`: the root is enabled again and each item gets back the state
    it had before (`states`, from `root_item_states`); the jobs the removal suspended
    are queued again for the items that were in the library. Returns those items."""
    enable_root(conn, root_id)
    was_in = [(item_id, state) for item_id, state in states if state not in OUT_OF_LIBRARY]
    if was_in:  # only the items the removal marked missing
        conn.exec_driver_sql(
            "UPDATE media_items SET state = ? WHERE id = ? AND root_id = ? AND state = 'missing'",
            [(state, item_id, root_id) for item_id, state in was_in],
        )
    back = [item_id for item_id, _state in was_in]
    resume_jobs(conn, back, stamp)
    return back


def set_watch_state(conn: Connection, root_id: int, state: str, note: str | None) -> None:
    conn.exec_driver_sql(
        "UPDATE roots SET watch_state = ?, watch_note = ? WHERE id = ?",
        (state, note, root_id),
    )


def set_last_scan(conn: Connection, root_id: int, when: float) -> None:
    conn.exec_driver_sql("UPDATE roots SET last_scan_at = ? WHERE id = ?", (when, root_id))
