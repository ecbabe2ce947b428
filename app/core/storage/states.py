"""The database's vocabulary: item and job states, and the predicates built on them.

The states are StrEnums so the values stored in SQLite stay the plain strings they
always were ("ok", "queued", ...) and compare equal to them. The predicates are
written once here, as SQL text fragments over `media_items m` (every query that
uses them names the table `m`), so "in the library" and "has a caption" cannot
drift apart between the gallery, search, counts and the scanner.
"""

from __future__ import annotations

from enum import StrEnum


class ItemState(StrEnum):
    """`media_items.state`."""

    NEW = "new"  # found, not yet probed
    OK = "ok"
    ERROR = "error"  # probing failed; `last_error` says why
    MISSING = "missing"  # the file is gone (captions kept, in case it comes back)
    REMOVED = "removed"  # the user removed it from the library (file untouched)


class JobState(StrEnum):
    """`jobs.state`."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Items that are not in the library any more: hidden from every view, count and search.
OUT_OF_LIBRARY = (ItemState.MISSING, ItemState.REMOVED)
# A job that is waiting or being worked on.
OPEN_JOB_STATES = (JobState.QUEUED, JobState.RUNNING)

# The state of an item that is back on disk: unprobed, failed before, or fine (SQL).
RESTORED_STATE = """CASE WHEN fingerprint IS NULL THEN 'new'
    WHEN last_error IS NOT NULL THEN 'error' ELSE 'ok' END"""

# -- SQL fragments over `media_items m` ------------------------------------------------
# Media item `m` is in the library.
IN_LIBRARY = "m.state NOT IN ('missing', 'removed')"
# ... and its rows are in the search index: probed, and not missing (migration 0003).
IN_SEARCH_INDEX = "m.state NOT IN ('new', 'missing', 'removed')"
# The item-level captions of `m` (alias `c`), for EXISTS tests that add conditions.
ITEM_CAPTIONS = "SELECT 1 FROM captions c WHERE c.item_id = m.id AND c.keyframe_id IS NULL"
# Media item `m` has a caption (the model's or the user's) for the whole item.
HAS_CAPTION = f"EXISTS ({ITEM_CAPTIONS})"
# ... and one of them is the user's.
HAS_USER_CAPTION = f"EXISTS ({ITEM_CAPTIONS} AND c.source = 'user')"
