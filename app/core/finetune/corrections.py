"""The corrections fine-tuning learns from, as the "Fine-tune" screen lists them.

A correction is a model caption the user edited (`CaptionStore.corrections`), of a
photo, a video, or one moment of a video. Training works on whole items: a video's
example is all its keyframes with the current item caption and moment captions, so
any number of corrections of one video make ONE example. The same unit is held out:
an item is either trained on or used for evaluation, never both.

The held-out split is a hash of the item id compared with the share, so it is the
same on every run and adding corrections never moves an old one between training and
evaluation (which would make before/after scores of two runs incomparable).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, insert, select

from app.core.captions import CaptionStore
from app.core.media.thumbnails import thumbnail_path
from app.core.storage.db import Database, now
from app.core.storage.schema import FinetuneExclusion, Keyframe, MediaItem
from app.core.storage.states import ItemState
from models.finetune.plan import MIN_TRAINING_EXAMPLES

DEFAULT_HOLDOUT_SHARE = 0.2
MAX_HOLDOUT_SHARE = 0.9
# Fewer training examples than this and training is refused; the split never holds out
# so many that training falls below it.
KEEP_FOR_TRAINING = MIN_TRAINING_EXAMPLES
_SALT = b"captionist-heldout:"


@dataclass(frozen=True)
class TrainingCorrection:
    """One row of the corrections table."""

    item_id: int
    keyframe_id: int | None  # a video moment's correction; None: the item's caption
    timestamp: float | None  # of that moment, seconds into the video
    path: str
    kind: str  # "photo" | "video"
    mtime_ns: int  # with size: the gallery thumbnail's cache key
    size: int
    thumbnail: str | None  # a thumbnail already on disk (keyframe or gallery cache)
    model_caption: str
    model_tags: tuple[str, ...]
    user_caption: str
    user_tags: tuple[str, ...]
    model_id: str | None  # the model that wrote the caption the user corrected
    prompt_id: str | None  # and the prompt it was asked with
    corrected_at: float  # epoch seconds of the user's caption
    excluded: bool  # the user left this correction out of fine-tuning
    heldout: bool  # its item is used for evaluation only (False when excluded)

    @property
    def example_id(self) -> str:
        """The training example this correction belongs to (one per item)."""
        return example_id(self.item_id)


def example_id(item_id: int) -> str:
    return f"item-{item_id}"


def list_training_corrections(
    db: Database,
    *,
    holdout: float = DEFAULT_HOLDOUT_SHARE,
    gallery_thumbnails: Path | None = None,
) -> list[TrainingCorrection]:
    """Every correction of an item still in the library, oldest first.

    `gallery_thumbnails` is the gallery's thumbnail cache folder; a thumbnail found
    there is named in the row (never made here: the screen's thumbnail service does
    that off the GUI thread)."""
    pairs = CaptionStore(db).corrections()
    with db.read() as conn:
        items = {
            row.id: row
            for row in conn.execute(
                select(MediaItem.id, MediaItem.mtime_ns, MediaItem.size, MediaItem.state)
            )
        }
        keyframes = {
            row.id: (row.timestamp, row.thumbnail_path)
            for row in conn.execute(
                select(Keyframe.id, Keyframe.timestamp, Keyframe.thumbnail_path)
            )
        }
        excluded = {
            (row.item_id, row.keyframe_id)
            for row in conn.execute(
                select(FinetuneExclusion.item_id, FinetuneExclusion.keyframe_id)
            )
        }
    pairs = [p for p in pairs if p.item_id in items and items[p.item_id].state != ItemState.REMOVED]
    included = {p.item_id for p in pairs if (p.item_id, p.keyframe_id) not in excluded}
    held = split_heldout(included, holdout, keep_training=KEEP_FOR_TRAINING)
    rows = []
    for pair in pairs:
        item = items[pair.item_id]
        timestamp, keyframe_thumb = keyframes.get(pair.keyframe_id, (None, None))
        is_excluded = (pair.item_id, pair.keyframe_id) in excluded
        rows.append(
            TrainingCorrection(
                item_id=pair.item_id,
                keyframe_id=pair.keyframe_id,
                timestamp=timestamp,
                path=pair.path,
                kind=pair.kind,
                mtime_ns=item.mtime_ns,
                size=item.size,
                thumbnail=_existing(keyframe_thumb)
                or _gallery_thumbnail(gallery_thumbnails, pair.path, item.mtime_ns, item.size),
                model_caption=pair.model_caption.text,
                model_tags=tuple(pair.model_caption.tags or ()),
                user_caption=pair.user_caption.text,
                user_tags=tuple(pair.user_caption.tags or ()),
                model_id=pair.model_id,
                prompt_id=pair.prompt_id,
                corrected_at=pair.user_caption.created_at,
                excluded=is_excluded,
                heldout=not is_excluded and pair.item_id in held,
            )
        )
    return rows


def set_excluded(db: Database, item_id: int, keyframe_id: int | None, excluded: bool) -> None:
    """Leave a correction out of fine-tuning (or take it back in); kept across runs."""
    same = (
        FinetuneExclusion.keyframe_id.is_(None)
        if keyframe_id is None
        else (FinetuneExclusion.keyframe_id == keyframe_id)
    )
    with db.write() as conn:
        conn.execute(delete(FinetuneExclusion).where(FinetuneExclusion.item_id == item_id, same))
        if excluded:
            conn.execute(
                insert(FinetuneExclusion).values(
                    item_id=item_id, keyframe_id=keyframe_id, excluded_at=now()
                )
            )


def heldout_rank(item_id: int) -> float:
    """A fixed pseudo-random number in [0, 1) for the item: its place in the split."""
    digest = hashlib.blake2b(_SALT + str(item_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_heldout(
    item_ids: Iterable[int], share: float, *, keep_training: int = 0
) -> frozenset[int]:
    """The items used only for evaluation: the `share` of them (rounded, at least one
    when the share is above zero) with the lowest fixed rank.

    Ranking by a per-item hash rather than drawing at random keeps the split the same
    from run to run, and adding corrections moves at most a few items across the line;
    taking an exact count rather than "rank below share" keeps small sets honest
    (a hash threshold held out 5 of 9 at 20%). Never so many that fewer than
    `keep_training` items are left to train on."""
    share = min(max(share, 0.0), MAX_HOLDOUT_SHARE)
    ranked = sorted(set(item_ids), key=heldout_rank)
    if share == 0.0 or not ranked:
        return frozenset()
    held = ranked[: max(1, round(share * len(ranked)))]
    room = max(0, len(ranked) - keep_training)
    return frozenset(held[:room])


def _existing(path: str | None) -> str | None:
    return path if path and os.path.isfile(path) else None


def _gallery_thumbnail(folder: Path | None, path: str, mtime_ns: int, size: int) -> str | None:
    if folder is None:
        return None
    return _existing(str(thumbnail_path(folder, path, mtime_ns, size)))
