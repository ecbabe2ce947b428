"""Model captions for tests, written the way the caption worker writes them.

The worker claims the item's caption job, and `store_caption` finishes the job and
writes the whole item's caption and its moments' captions in one transaction. Tests
go through that same path (not a test-only method on CaptionStore), so what they
build is what real use builds: an item caption always comes with the moments', a
done caption job, a model and prompt always named.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy import insert, select

from app.core.captioning.prepare import ModelInput, PreparedKeyframe
from app.core.captioning.store import Provenance, store_caption
from app.core.captions import MODEL
from app.core.jobs import claim_next_job, enqueue
from app.core.storage.db import Database, now
from app.core.storage.schema import Caption, Keyframe
from models.answer import CaptionAnswer

MODEL_ID = "test-model"
PROMPT_ID = "test-prompt"
# Above any priority the app uses, so the claim takes this item's job and no other.
_FIRST = 2**31


def store_model_caption(
    db: Database,
    item_id: int,
    text: str,
    tags: Sequence[str] = (),
    *,
    moments: Mapping[int, str] | None = None,
    language: str | None = None,
    model_id: str = MODEL_ID,
    prompt_id: str = PROMPT_ID,
    adapter_id: str | None = None,
    server: str | None = None,
) -> Caption:
    """Caption `item_id` as a worker run would: `text` and `tags` for the whole item and,
    for a video, `moments` {keyframe id: caption} for keyframes it already has.

    Returns the item's new caption."""
    moments = dict(moments or {})
    with db.write() as conn:
        enqueue(conn, [item_id], priority=_FIRST)  # or raises the open job's priority
        job = claim_next_job(conn, min_priority=_FIRST)
        assert job is not None and job.item_id == item_id, "the item has a running job"
        frames = {
            k.id: k
            for k in conn.execute(
                select(Keyframe.id, Keyframe.timestamp, Keyframe.thumbnail_path).where(
                    Keyframe.id.in_(moments), Keyframe.item_id == item_id
                )
            )
        }
    assert set(frames) == set(moments), "moments must name keyframes of the item"
    keyframes = [
        PreparedKeyframe(
            frames[k].timestamp,
            Path(os.fsdecode(frames[k].thumbnail_path or f"/thumbs/keyframe-{k}.jpg")),
        )
        for k in moments
    ]
    prepared = ModelInput(item_id=item_id, mtime_ns=0, images=[], keyframes=keyframes)
    answer = CaptionAnswer(text, list(tags), language, moments=list(moments.values()))
    made_by = Provenance(model_id, prompt_id, adapter_id, server=server)
    assert store_caption(db, job.id, prepared, answer, made_by)
    with db.session() as session:
        newest = session.scalars(
            select(Caption)
            .where(Caption.item_id == item_id, Caption.keyframe_id.is_(None))
            .order_by(Caption.id.desc())
            .limit(1)
        ).one()
        moment_ids = session.scalars(
            select(Caption.keyframe_id).where(Caption.item_id == item_id, Caption.id > newest.id)
        ).all()
    assert sorted(moment_ids) == sorted(moments), "a moment landed on another keyframe"
    return newest


def insert_moment_caption_without_item_caption(
    db: Database, item_id: int, keyframe_id: int, text: str
) -> None:
    """A model caption for one moment of a video whose item has no caption.

    The worker never writes that (it captions the whole item with its moments), so
    this is SQL, for the one test that checks a moment's caption does not count as
    the item's caption."""
    with db.write() as conn:
        conn.execute(
            insert(Caption).values(
                item_id=item_id,
                keyframe_id=keyframe_id,
                text=text,
                tags=[],
                source=MODEL,
                created_at=now(),
            )
        )
