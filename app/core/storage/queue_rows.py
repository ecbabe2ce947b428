"""Raw reads behind the activity panel's list of items that need the user.

Here, not in app.core.queue_status, so that raw SQL stays in app/core/storage.
An item is listed once: either its newest caption job failed (a newer job, queued
again, done or cancelled, means the failure is no longer the item's story), or its
file cannot be read. Missing and removed items are not listed.
"""

from __future__ import annotations

from sqlalchemy import Connection

_FAILED_JOBS = """
    FROM jobs j JOIN media_items m ON m.id = j.item_id
    WHERE j.kind = :kind AND j.state = 'failed' AND m.state NOT IN ('missing', 'error', 'removed')
      AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.item_id = j.item_id
                      AND k.kind = j.kind AND k.id > j.id)"""
_UNREADABLE = "FROM media_items m WHERE m.state = 'error'"

# (item id, name, path, error, when failed or None, unreadable 0/1)
FailedRow = tuple[int, str, bytes, str | None, float | None, int]


def failed_rows(conn: Connection, kind: str, limit: int) -> list[FailedRow]:
    """Newest job failures first, then unreadable files by name; `limit` -1 for all."""
    sql = f"""
        SELECT m.id, m.name, m.path, j.last_error, j.finished_at, 0 {_FAILED_JOBS}
        UNION ALL
        SELECT m.id, m.name, m.path, m.last_error, NULL, 1 {_UNREADABLE}
        ORDER BY 5 DESC, 2 LIMIT :limit"""
    rows = conn.exec_driver_sql(_qmark(sql), (kind, limit)).all()
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def failed_count(conn: Connection, kind: str) -> int:
    """How many items `failed_rows` lists in all."""
    sql = f"SELECT (SELECT count(*) {_FAILED_JOBS}) + (SELECT count(*) {_UNREADABLE})"
    return int(conn.exec_driver_sql(_qmark(sql), (kind,)).scalar() or 0)


def _qmark(sql: str) -> str:
    """The driver takes positional marks; the named ones keep the SQL readable."""
    return sql.replace(":kind", "?").replace(":limit", "?")
