"""What undoing a caption edit needs from the database, without Qt.

Caption history only grows (CaptionStore), so undoing an edit normally records
the previous words again as a new user caption. The one edit that cannot be
undone that way is the first caption an item ever gets: there are no previous
words, and an empty user caption would outrank every later model caption and
leave the item looking captioned with nothing. That single case withdraws the
caption the edit wrote, and only while nothing was built on it (no newer version,
no caption edited from it), so no history anyone could have seen is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.captions import CaptionStore
from app.core.storage.caption_rows import built_upon, caption_place, delete_caption
from app.core.storage.db import Database
from app.core.storage.item_rows import in_library


@dataclass(frozen=True, slots=True)
class CaptionSnapshot:
    """The caption an item shows at one moment: what an undo puts back."""

    caption_id: int
    text: str
    tags: tuple[str, ...]
    source: str  # "model" | "user"


def current_snapshot(
    db: Database, item_id: int, keyframe_id: int | None = None
) -> CaptionSnapshot | None:
    caption = CaptionStore(db).current(item_id, keyframe_id)
    if caption is None:
        return None
    return CaptionSnapshot(caption.id, caption.text, tuple(caption.tags or ()), caption.source)


def withdraw_caption(db: Database, caption_id: int) -> bool:
    """Delete a user caption that nothing was built on; False (and nothing changed)
    if it is a model caption, not the newest version of its item or moment, or
    another caption was edited from it."""
    with db.write() as conn:
        place = caption_place(conn, caption_id)
        if place is None or place[2] != "user":
            return False
        if built_upon(conn, caption_id, place[0], place[1]):
            return False
        delete_caption(conn, caption_id)
    return True


def listed_ids(db: Database, item_ids: Sequence[int]) -> list[int]:
    """The items among `item_ids` that are in the library now (not missing or
    removed): exactly those a "remove" changes, and so those its undo restores."""
    with db.read() as conn:
        return sorted(in_library(conn, item_ids))
