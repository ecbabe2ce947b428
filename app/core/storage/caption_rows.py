"""Raw reads and writes of the captions table (and the review mark on media_items).

Here, not in app.core.captions or its callers, so that raw SQL stays in
app/core/storage. The rule for an item's current caption (the newest user caption,
else the newest model caption) is written once as SQL, in CURRENT_ITEM_CAPTION.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from app.core.storage.bulk import chunks, marks
from app.core.storage.db import AnyRow
from app.core.storage.states import HAS_USER_CAPTION, IN_LIBRARY

# The current item-level caption of media item `m`, as SQL (captions.current_caption_query
# is the same rule for the ORM).
CURRENT_ITEM_CAPTION = """(SELECT id FROM captions WHERE item_id = m.id AND keyframe_id IS NULL
    ORDER BY source = 'user' DESC, id DESC LIMIT 1)"""


def without_user_caption(conn: Connection, item_ids: Sequence[int]) -> list[int]:
    """The items whose caption is not the user's: a changed file the user captioned gets
    no caption job, and no caption found in its metadata replaces theirs."""
    return [
        row[0]
        for chunk in chunks(item_ids)
        for row in conn.exec_driver_sql(
            f"SELECT m.id FROM media_items m WHERE m.id IN ({marks(chunk)}) "
            f"AND NOT {HAS_USER_CAPTION}",
            tuple(chunk),
        )
    ]


def caption_place(conn: Connection, caption_id: int) -> tuple[int, int | None, str] | None:
    """(item_id, keyframe_id, source) of a caption, or None if there is no such caption."""
    row = conn.exec_driver_sql(
        "SELECT item_id, keyframe_id, source FROM captions WHERE id = ?", (caption_id,)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def built_upon(conn: Connection, caption_id: int, item_id: int, keyframe_id: int | None) -> bool:
    """Whether a newer version of the same item or moment exists, or a caption was
    edited from this one."""
    newer = conn.exec_driver_sql(
        """SELECT 1 FROM captions WHERE item_id = ? AND keyframe_id IS ? AND id > ?
           UNION ALL SELECT 1 FROM captions WHERE edited_from_id = ? LIMIT 1""",
        (item_id, keyframe_id, caption_id, caption_id),
    ).first()
    return newer is not None


def delete_caption(conn: Connection, caption_id: int) -> None:
    conn.exec_driver_sql("DELETE FROM captions WHERE id = ?", (caption_id,))


def current_caption_review(conn: Connection, item_id: int) -> tuple[int, str, int | None] | None:
    """(caption id, source, reviewed_caption_id) of the item's current caption, or None
    if it has none."""
    row = conn.exec_driver_sql(
        f"""SELECT c.id, c.source, m.reviewed_caption_id FROM media_items m
            JOIN captions c ON c.id = {CURRENT_ITEM_CAPTION}
            WHERE m.id = ?""",
        (item_id,),
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def set_reviewed_caption(conn: Connection, item_id: int, caption_id: int | None) -> None:
    conn.exec_driver_sql(
        "UPDATE media_items SET reviewed_caption_id = ? WHERE id = ?",
        (caption_id, item_id),
    )


def current_caption_rows(conn: Connection, item_ids: Sequence[int]) -> list[AnyRow]:
    """(id, path, kind, text, tags, language, source, model_id, prompt_id, adapter_id)
    of these items' current non-empty captions, for items in the library."""
    return [
        row
        for chunk in chunks(item_ids)
        for row in conn.exec_driver_sql(
            f"""SELECT m.id, m.path, m.kind, c.text, c.tags, c.language, c.source,
                       c.model_id, c.prompt_id, c.adapter_id
                FROM media_items m JOIN captions c ON c.id = {CURRENT_ITEM_CAPTION}
                WHERE m.id IN ({marks(chunk)}) AND {IN_LIBRARY}
                  AND c.text != ''""",
            tuple(chunk),
        )
    ]


def item_caption_versions(conn: Connection, item_id: int) -> Sequence[AnyRow]:
    """(id, text, tags, language, source, model_id, prompt_id, adapter_id, created_at,
    server) of every caption of the item itself, newest first."""
    return conn.exec_driver_sql(
        """SELECT id, text, tags, language, source, model_id, prompt_id, adapter_id,
                  created_at, server
           FROM captions WHERE item_id = ? AND keyframe_id IS NULL ORDER BY id DESC""",
        (item_id,),
    ).all()


def item_moments(conn: Connection, item_id: int) -> Sequence[AnyRow]:
    """(keyframe id, timestamp, thumbnail_path, current caption text) of a video's
    moments, in time order."""
    return conn.exec_driver_sql(
        """SELECT k.id, k.timestamp, k.thumbnail_path,
                  (SELECT c.text FROM captions c WHERE c.item_id = k.item_id
                   AND c.keyframe_id = k.id ORDER BY c.source = 'user' DESC, c.id DESC
                   LIMIT 1)
           FROM keyframes k WHERE k.item_id = ? ORDER BY k.timestamp""",
        (item_id,),
    ).all()
