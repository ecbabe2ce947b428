"""Small reads of the jobs table that the details panel and the CLI ask for.

Here, not in their callers, so that raw SQL stays in app/core/storage (a test keeps
`exec_driver_sql` out of every other module).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from app.core.storage.bulk import chunks, marks


def newest_job(
    conn: Connection, item_id: int, kind: str | None = None
) -> tuple[str, str | None] | None:
    """(state, last_error) of the item's newest job (of `kind`, if given), or None."""
    of_kind = "" if kind is None else "AND kind = ? "
    row = conn.exec_driver_sql(
        f"SELECT state, last_error FROM jobs WHERE item_id = ? {of_kind}ORDER BY id DESC LIMIT 1",
        (item_id,) if kind is None else (item_id, kind),
    ).first()
    return None if row is None else (row[0], row[1])


def open_job_count(conn: Connection, item_ids: Sequence[int]) -> int:
    """How many queued or running jobs these items have."""
    return sum(
        conn.exec_driver_sql(
            f"SELECT count(*) FROM jobs WHERE state IN ('queued', 'running') "
            f"AND item_id IN ({marks(chunk)})",
            tuple(chunk),
        ).scalar_one()
        for chunk in chunks(item_ids)
    )


def item_kind(conn: Connection, item_id: int) -> str:
    """ "photo" or "video"."""
    return str(
        conn.exec_driver_sql("SELECT kind FROM media_items WHERE id = ?", (item_id,)).scalar_one()
    )
