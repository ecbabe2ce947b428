"""Captions other apps wrote (XMP sidecar or embedded, IPTC, EXIF), taken in when files
are indexed: they become the user's captions, so they show, are searchable, and no
model caption ever replaces them (the scan queues no caption job for them).

Our own AI captions found in a file (a library rebuilt from scratch, a photo copied
from another Captionist) are not anyone's words and are not imported; our "me"
captions are the user's and are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Connection, insert

from app.core.captions import USER
from app.core.metadata import xmp
from app.core.metadata.language import language_tag
from app.core.storage.caption_rows import without_user_caption
from app.core.storage.schema import Caption


def read_for_import(path: bytes) -> xmp.CaptionMetadata | None:
    """Runs on the scan's probe threads; None when there is nothing to take in."""
    found = xmp.read(Path(os.fsdecode(path)))
    if found is None or found.source == xmp.SOURCE_AI:
        return None
    return found


def store_imported(
    conn: Connection, found: Mapping[int, xmp.CaptionMetadata], stamp: float
) -> list[int]:
    """Add the found captions as the user's to items that have none of the user's yet
    (a changed file the user already captioned keeps their words). Returns the ids."""
    if not found:
        return []
    ids = without_user_caption(conn, list(found))
    rows = [_user_caption(i, found[i], stamp) for i in ids]
    if rows:
        conn.execute(insert(Caption), rows)
    return ids


def _user_caption(item_id: int, meta: xmp.CaptionMetadata, stamp: float) -> dict[str, object]:
    return {
        "item_id": item_id,
        "keyframe_id": None,
        "text": meta.text,
        "tags": list(meta.tags),
        "language": language_tag(meta.language),
        "source": USER,
        "model_id": None,
        "prompt_id": None,
        "adapter_id": None,
        "edited_from_id": None,
        "created_at": stamp,
    }
