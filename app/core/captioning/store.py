"""Writing a finished caption: the caption, the video's moments and the job's
completion in ONE transaction, so a crash at any point leaves either all of it or
none of it — a retried job can never duplicate a caption.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.captioning.prepare import ModelInput, PreparedKeyframe
from app.core.captions import MODEL
from app.core.storage.db import Database, now
from app.core.storage.schema import Caption, Job, Keyframe
from models.answer import CaptionAnswer

SAME_MOMENT_S = 0.25  # keyframes this close to an earlier one are that one again


@dataclass(frozen=True)
class Provenance:
    model_id: str
    prompt_id: str
    adapter_id: str | None = None
    language: str | None = None


def store_caption(
    db: Database, job_id: int, prepared: ModelInput, answer: CaptionAnswer, made_by: Provenance
) -> bool:
    """Store the answer and finish the job. False (nothing stored) if the job was
    cancelled or re-queued while the model was working on it."""
    stamp = now()
    with db.session() as session:
        job = session.get(Job, job_id)
        if job is None or job.state != "running":
            return False
        session.add(
            _caption(
                prepared.item_id, None, answer.caption, answer.tags, made_by, answer.language, stamp
            )
        )
        for keyframe, moment in zip(
            _keyframes(session, prepared.item_id, prepared.keyframes), answer.moments, strict=False
        ):
            session.add(
                _caption(prepared.item_id, keyframe.id, moment, [], made_by, answer.language, stamp)
            )
        job.state, job.finished_at, job.updated_at, job.last_error = "done", stamp, stamp, None
    return True


def _caption(
    item_id: int,
    keyframe_id: int | None,
    text: str,
    tags: list[str],
    made_by: Provenance,
    language: str | None,
    stamp: float,
) -> Caption:
    return Caption(
        item_id=item_id,
        keyframe_id=keyframe_id,
        text=text,
        tags=tags,
        language=made_by.language or language,
        source=MODEL,
        model_id=made_by.model_id,
        prompt_id=made_by.prompt_id,
        adapter_id=made_by.adapter_id,
        created_at=stamp,
    )


def _keyframes(session: Session, item_id: int, prepared: list[PreparedKeyframe]) -> list[Keyframe]:
    """The item's keyframe rows for these moments: reused when the same moment was
    keyframed before (so a moment's caption history stays together), else added."""
    existing = list(session.scalars(select(Keyframe).where(Keyframe.item_id == item_id)))
    rows = []
    for frame in prepared:
        match = next(
            (k for k in existing if abs(k.timestamp - frame.timestamp) < SAME_MOMENT_S), None
        )
        if match is None:
            match = Keyframe(item_id=item_id, timestamp=frame.timestamp)
            session.add(match)
            existing.append(match)
        match.thumbnail_path = os.fsdecode(frame.thumbnail)
        rows.append(match)
    session.flush()  # ids for the moment captions
    return rows
