"""Small reads of the jobs table that the details panel and the CLI ask for, and the
jobs of files that leave the library and come back.

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


# -- jobs of files that left the library ---------------------------------------------------
# The mark on a job cancelled because its file left the library (deleted, on a drive
# that is gone, in a folder the user removed): such a job comes back with the file.
LEFT_THE_LIBRARY = "the file left the library; queued again if it comes back"

_SUSPEND = """UPDATE jobs SET state = 'cancelled', last_error = ?, updated_at = ?,
        attempts = attempts - (state = 'running')
    WHERE state IN ('queued', 'running') AND item_id IN ({items})"""


def suspend_jobs(conn: Connection, item_ids: Sequence[int], stamp: float) -> None:
    """Cancel the open jobs of items whose files are gone, marked so that `resume_jobs`
    brings them back. A running job's worker drops its result; that attempt does not
    count towards the crash limit (it was stopped on purpose)."""
    for chunk in chunks(item_ids):
        conn.exec_driver_sql(_SUSPEND.format(items=marks(chunk)), (LEFT_THE_LIBRARY, stamp, *chunk))


def suspend_jobs_of_root(conn: Connection, root_id: int, stamp: float) -> None:
    """`suspend_jobs` for every item of a root."""
    conn.exec_driver_sql(
        _SUSPEND.format(items="SELECT id FROM media_items WHERE root_id = ?"),
        (LEFT_THE_LIBRARY, stamp, root_id),
    )


def resume_jobs(conn: Connection, item_ids: Sequence[int], stamp: float) -> int:
    """Queue again the jobs `suspend_jobs` cancelled, for these items that are back.

    Only a job that is still its item's newest of its kind: one the item has had since
    (done, failed, open) is the newer word, and an open one must stay the only one.
    Returns how many jobs came back."""
    resumed = 0
    for chunk in chunks(item_ids):
        resumed += conn.exec_driver_sql(
            f"""UPDATE jobs SET state = 'queued', last_error = NULL, updated_at = ?
                WHERE state = 'cancelled' AND last_error = ? AND item_id IN ({marks(chunk)})
                AND id = (SELECT max(o.id) FROM jobs o
                          WHERE o.kind = jobs.kind AND o.item_id = jobs.item_id)""",
            (stamp, LEFT_THE_LIBRARY, *chunk),
        ).rowcount
    return resumed
