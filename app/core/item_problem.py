"""Why an item's caption failed, for the details panel's error state.

`item_details` carries the file's own problem (unreadable, truncated); a caption
job that failed (out of memory, the model crashed three times) keeps its reason on the
job row. The gallery's "Errors" view counts both, so the panel shows both.
"""

from __future__ import annotations

from app.core.jobs import CAPTION
from app.core.storage.db import Database
from app.core.storage.job_rows import newest_job


def caption_failure(db: Database, item_id: int) -> str | None:
    """The reason the newest caption job of the item failed; None if it did not."""
    with db.read() as conn:
        row = newest_job(conn, item_id, CAPTION)
    if row is None or row[0] != "failed":
        return None
    return row[1] or "the caption job failed"
