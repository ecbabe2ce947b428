"""Captions and their history.

Every caption is a new row (the table rejects updates), so nothing the user wrote
is ever overwritten. The current caption of an item is its newest user caption,
else its newest model caption: a model run after the user edited stays in the
history as a suggestion and never replaces the user's words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, case, select
from sqlalchemy.orm import Session, aliased

from app.core.storage.caption_rows import current_caption_review, set_reviewed_caption
from app.core.storage.db import Database, now
from app.core.storage.schema import Caption, MediaItem

MODEL = "model"
USER = "user"


@dataclass(frozen=True, slots=True)
class CorrectionPair:
    """A model caption and the user's correction of it: one fine-tuning example."""

    item_id: int
    keyframe_id: int | None
    path: str
    kind: str
    prompt_id: str | None
    model_id: str | None
    model_caption: Caption
    user_caption: Caption


def _versions_of(item_id: int, keyframe_id: int | None) -> Select[Caption]:
    """All captions of an item itself (keyframe_id None) or of one of its moments."""
    keyframe_match = (
        Caption.keyframe_id.is_(None) if keyframe_id is None else Caption.keyframe_id == keyframe_id
    )
    return select(Caption).where(Caption.item_id == item_id, keyframe_match)


def current_caption_query(item_id: int, keyframe_id: int | None = None) -> Select[Caption]:
    return (
        _versions_of(item_id, keyframe_id)
        .order_by(case((Caption.source == USER, 1), else_=0).desc(), Caption.id.desc())
        .limit(1)
    )


class CaptionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add_user_caption(
        self,
        item_id: int,
        text: str,
        tags: Sequence[str] = (),
        *,
        language: str | None = None,
        keyframe_id: int | None = None,
    ) -> Caption:
        """Record the user's caption, linked to the caption they were looking at."""
        with self._db.session() as session:
            shown = session.scalars(current_caption_query(item_id, keyframe_id)).first()
            caption = Caption(
                item_id=item_id,
                keyframe_id=keyframe_id,
                text=text,
                tags=list(tags),
                language=language if language is not None else (shown.language if shown else None),
                source=USER,
                edited_from_id=shown.id if shown else None,
                created_at=now(),
            )
            session.add(caption)
        return caption

    def restore(self, caption_id: int) -> Caption:
        """Make an older version current again: a new user caption with its words and
        tags (history only grows; "restored" is the user's choice, so it is theirs)."""
        with self._db.session() as session:
            version = session.get(Caption, caption_id)
            if version is None:
                raise KeyError(f"no caption {caption_id}")
            item_id, keyframe_id = version.item_id, version.keyframe_id
            text, tags, language = version.text, list(version.tags), version.language
        return self.add_user_caption(
            item_id, text, tags, language=language, keyframe_id=keyframe_id
        )

    def accept(self, item_ids: Sequence[int]) -> dict[int, int | None]:
        """ "Accept caption": mark the current model caption of each item as reviewed.

        Returns what each changed item was marked with before, for `set_reviewed`
        to undo. Items whose current caption is the user's, or that have none, are
        left alone (they need no review).
        """
        before: dict[int, int | None] = {}
        with self._db.write() as conn:
            for item_id in item_ids:
                row = current_caption_review(conn, item_id)
                if row is None or row[1] != MODEL or row[0] == row[2]:
                    continue
                before[item_id] = row[2]
                set_reviewed_caption(conn, item_id, row[0])
        return before

    def set_reviewed(self, marks: dict[int, int | None]) -> None:
        """Put back review marks (undo of `accept`)."""
        with self._db.write() as conn:
            for item_id, caption_id in marks.items():
                set_reviewed_caption(conn, item_id, caption_id)

    def current(self, item_id: int, keyframe_id: int | None = None) -> Caption | None:
        with self._db.session() as session:
            return session.scalars(current_caption_query(item_id, keyframe_id)).first()

    def history(self, item_id: int, keyframe_id: int | None = None) -> list[Caption]:
        """All versions, newest first."""
        with self._db.session() as session:
            return list(
                session.scalars(_versions_of(item_id, keyframe_id).order_by(Caption.id.desc()))
            )

    def corrections(self) -> list[CorrectionPair]:
        """(model caption -> user's current caption) for every corrected item or moment.

        The user's current caption is followed back through its edits to the model
        caption it started from; user captions written from scratch are not pairs.
        """
        with self._db.session() as session:
            pairs = (_pair_for(session, c) for c in _current_user_captions(session))
            return [pair for pair in pairs if pair is not None]


def _current_user_captions(session: Session) -> list[Caption]:
    newer_user = aliased(Caption)
    newest = (
        select(Caption)
        .where(Caption.source == USER)
        .where(
            ~select(newer_user.id)
            .where(
                newer_user.item_id == Caption.item_id,
                newer_user.keyframe_id.is_not_distinct_from(Caption.keyframe_id),
                newer_user.source == USER,
                newer_user.id > Caption.id,
            )
            .exists()
        )
        .order_by(Caption.id)
    )
    return list(session.scalars(newest))


def _pair_for(session: Session, user_caption: Caption) -> CorrectionPair | None:
    origin: Caption | None = user_caption
    seen: set[int] = set()
    while origin is not None and origin.source == USER and origin.edited_from_id:
        if origin.id in seen:
            return None
        seen.add(origin.id)
        origin = session.get(Caption, origin.edited_from_id)
    if origin is None or origin.source != MODEL:
        return None
    item = session.get(MediaItem, user_caption.item_id)
    assert item is not None  # captions cascade away with their item
    return CorrectionPair(
        item_id=item.id,
        keyframe_id=user_caption.keyframe_id,
        path=item.path,
        kind=item.kind,
        prompt_id=origin.prompt_id,
        model_id=origin.model_id,
        model_caption=origin,
        user_caption=user_caption,
    )
