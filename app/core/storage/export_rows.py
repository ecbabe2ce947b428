"""The reads of an export (app.core.export): each item's caption with what a data set
needs, streamed in batches so 100,000 items never sit in memory at once.

Here, not in app.core.export, so that raw SQL stays in app/core/storage. Which caption
an item exports is the rule of CURRENT_ITEM_CAPTION, narrowed by `which`:
- "current": the current caption (the user's newest, else the model's newest);
- "mine": only items whose current caption is the user's;
- "accepted": the user's, or a model caption the user accepted (`reviewed_caption_id`);
  `include_review` adds the model captions that still need review.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Connection

from app.core.storage.bulk import chunks, marks
from app.core.storage.caption_rows import CURRENT_ITEM_CAPTION
from app.core.storage.db import AnyRow
from app.core.storage.states import IN_LIBRARY

WHICH = ("current", "mine", "accepted")
BATCH = 2000

# (id, path, root path, kind, taken_at, text, tags, language, source, model_id, adapter_id,
#  width, height)
_ROW_SQL = f"""SELECT m.id, m.path, r.path, m.kind, m.taken_at, c.text, c.tags, c.language,
        c.source, c.model_id, c.adapter_id, m.width, m.height
    FROM media_items m JOIN roots r ON r.id = m.root_id
    JOIN captions c ON c.id = {CURRENT_ITEM_CAPTION}
    WHERE {IN_LIBRARY} AND c.text != '' {{which}} {{where}}"""


def which_sql(which: str, include_review: bool) -> str:
    if which not in WHICH:
        raise ValueError(f"unknown caption choice {which!r}")
    if which == "mine":
        return "AND c.source = 'user'"
    if which == "accepted" and not include_review:
        return "AND (c.source = 'user' OR c.id = m.reviewed_caption_id)"
    return ""


def export_rows(
    conn: Connection,
    item_ids: Sequence[int] | None,
    which: str,
    include_review: bool,
    batch: int = BATCH,
) -> Iterator[tuple[int, list[AnyRow]]]:
    """(items looked at, rows) in batches: the rows (see _ROW_SQL) of these items in
    the given order, or of the whole library in id order when `item_ids` is None."""
    cond = which_sql(which, include_review)
    if item_ids is not None:
        for chunk in chunks(item_ids, batch):
            sql = _ROW_SQL.format(which=cond, where=f"AND m.id IN ({marks(chunk)})")
            found = {row[0]: row for row in conn.exec_driver_sql(sql, tuple(chunk))}
            yield len(chunk), [found[i] for i in chunk if i in found]
        return
    last = 0
    sql = _ROW_SQL.format(which=cond, where="AND m.id > ? ORDER BY m.id LIMIT ?")
    while True:
        rows = conn.exec_driver_sql(sql, (last, batch)).all()
        if not rows:
            return
        yield len(rows), list(rows)
        last = rows[-1][0]


def count_rows(conn: Connection, which: str, include_review: bool) -> int:
    """How many items of the whole library export_rows yields: the progress total."""
    sql = f"""SELECT count(*) FROM media_items m JOIN captions c ON c.id = {CURRENT_ITEM_CAPTION}
        WHERE {IN_LIBRARY} AND c.text != '' {which_sql(which, include_review)}"""
    return int(conn.exec_driver_sql(sql).scalar() or 0)


def moment_rows(conn: Connection, item_ids: Sequence[int]) -> list[AnyRow]:
    """(item id, timestamp, text, tags, language, source, model_id, adapter_id) of the
    current non-empty caption of each moment of these videos, in time order."""
    rows: list[AnyRow] = []
    for chunk in chunks(item_ids):
        rows.extend(
            conn.exec_driver_sql(
                f"""SELECT k.item_id, k.timestamp, c.text, c.tags, c.language, c.source,
                           c.model_id, c.adapter_id
                    FROM keyframes k JOIN captions c ON c.id = (
                        SELECT id FROM captions WHERE item_id = k.item_id
                        AND keyframe_id = k.id ORDER BY source = 'user' DESC, id DESC LIMIT 1)
                    WHERE k.item_id IN ({marks(chunk)}) AND c.text != ''
                    ORDER BY k.item_id, k.timestamp""",
                tuple(chunk),
            )
        )
    return rows
