"""Writing a finished caption: the caption, the video's moments and the job's
completion in ONE transaction, so a crash at any point leaves either all of it or
none of it — a retried job can never duplicate a caption.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from app.core.captioning.prepare import ModelInput, PreparedKeyframe
from app.core.captions import MODEL
from app.core.storage.db import Database, now
from app.core.storage.schema import Caption, Job, Keyframe
from app.core.storage.states import JobState
from models.answer import CaptionAnswer

SAME_MOMENT_S = 0.25  # keyframes this close to an earlier one are that one again
# Built once: constructing a statement costs SQLAlchemy more than SQLite takes to run it.
_FINISH_RUNNING_JOB = (
    update(Job)
    .where(Job.id == bindparam("job_id"), Job.state == JobState.RUNNING)
    .values(
        state=JobState.DONE,
        finished_at=bindparam("stamp"),
        updated_at=bindparam("stamp"),
        last_error=None,
    )
)
_ADD_CAPTIONS = insert(Caption)


@dataclass(frozen=True)
class Provenance:
    model_id: str
    prompt_id: str
    adapter_id: str | None = None
    language: str | None = None
    server: str | None = None  # the inference server's name; None: this computer


def store_caption(
    db: Database, job_id: int, prepared: ModelInput, answer: CaptionAnswer, made_by: Provenance
) -> bool:
    """Store the answer and finish the job. False (nothing stored) if the job was
    cancelled or re-queued while the model was working on it.

    Core statements, not an ORM session: this runs once per photo, and the session's
    identity map, flush and the keyframe query a photo does not need cost more than
    the writes themselves. The job is finished first, guarded by its state, so the
    check and the write are one statement inside the transaction."""
    stamp = now()
    with db.write() as conn:
        finished = conn.execute(_FINISH_RUNNING_JOB, {"job_id": job_id, "stamp": stamp}).rowcount
        if not finished:
            return False
        item, language = prepared.item_id, made_by.language or answer.language
        rows = [_caption(item, None, answer.caption, answer.tags, made_by, language, stamp)]
        if prepared.keyframes:
            keyframe_ids = _keyframe_ids(conn, item, prepared.keyframes)
            rows += [
                _caption(item, keyframe_id, moment, [], made_by, language, stamp)
                for keyframe_id, moment in zip(keyframe_ids, answer.moments, strict=False)
            ]
        conn.execute(_ADD_CAPTIONS, rows)
    return True


def _caption(
    item_id: int,
    keyframe_id: int | None,
    text: str,
    tags: list[str],
    made_by: Provenance,
    language: str | None,
    stamp: float,
) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "keyframe_id": keyframe_id,
        "text": text,
        "tags": tags,
        "language": language,
        "source": MODEL,
        "model_id": made_by.model_id,
        "prompt_id": made_by.prompt_id,
        "adapter_id": made_by.adapter_id,
        "server": made_by.server,
        "edited_from_id": None,
        "created_at": stamp,
    }


def _keyframe_ids(conn: Connection, item_id: int, prepared: list[PreparedKeyframe]) -> list[int]:
    """The item's keyframe rows for these moments: reused when the same moment was
    keyframed before (so a moment's caption history stays together), else added."""
    existing: list[tuple[int, float]] = [
        (row.id, row.timestamp)
        for row in conn.execute(
            select(Keyframe.id, Keyframe.timestamp).where(Keyframe.item_id == item_id)
        )
    ]
    ids = []
    for frame in prepared:
        thumbnail = os.fsdecode(frame.thumbnail)
        match = next((k for k, t in existing if abs(t - frame.timestamp) < SAME_MOMENT_S), None)
        if match is None:
            match = conn.execute(
                insert(Keyframe)
                .values(item_id=item_id, timestamp=frame.timestamp, thumbnail_path=thumbnail)
                .returning(Keyframe.id)
            ).scalar_one()
            existing.append((match, frame.timestamp))
        else:
            conn.execute(
                update(Keyframe).where(Keyframe.id == match).values(thumbnail_path=thumbnail)
            )
        ids.append(match)
    return ids
