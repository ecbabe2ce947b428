"""From a library item to what the model sees: downscaled JPEGs (and timestamps).

This is the CPU-heavy part of captioning (decode, resize, keyframes); the worker
runs it for the next item while the model is busy with the current one.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from app.core.media.errors import MediaError
from app.core.media.photo import encode_jpeg, load_for_model, save_thumbnail
from app.core.media.video import extract_keyframes
from models.regular_file import regular_file

if TYPE_CHECKING:
    from app.core.captioning.job_settings import MediaOptions

EXIF_MAKE, EXIF_MODEL = 0x010F, 0x0110


@dataclass(frozen=True)
class PreparedKeyframe:
    timestamp: float
    thumbnail: Path


@dataclass(frozen=True)
class ModelInput:
    item_id: int
    mtime_ns: int  # of the file prepared: a prefetched input is stale if it changed
    images: list[bytes]
    timestamps: list[float] | None = None  # for a video
    keyframes: list[PreparedKeyframe] = field(default_factory=list)
    exif_context: str | None = None

    def keeping(self, frames: list[int]) -> ModelInput:
        """This video with only these keyframes (indices, in time order): what is sent
        to the model when not all of them fit its context."""
        if self.timestamps is None or len(frames) == len(self.images):
            return self
        return replace(
            self,
            images=[self.images[i] for i in frames],
            timestamps=[self.timestamps[i] for i in frames],
            keyframes=[self.keyframes[i] for i in frames] if self.keyframes else [],
        )


def prepare_with(
    options: MediaOptions, item_id: int, path: bytes, kind: str, *, thumbnails: Path
) -> ModelInput:
    """`prepare` with the settings' media options (the worker's and the pool's way)."""
    return prepare(
        item_id,
        path,
        kind,
        thumbnails=thumbnails,
        max_side=options.max_side,
        max_keyframes=options.max_keyframes,
        with_exif_context=options.with_exif_context,
    )


def prepare(
    item_id: int,
    path: bytes,
    kind: str,
    *,
    thumbnails: Path,
    max_side: int,
    max_keyframes: int,
    with_exif_context: bool,
) -> ModelInput:
    """Raises MediaError with a user-facing reason for a file that cannot be used."""
    try:
        mtime_ns = os.stat(path).st_mtime_ns
    except FileNotFoundError as exc:
        raise MediaError("the file is gone (moved or deleted)") from exc
    except OSError as exc:
        raise MediaError(f"cannot read the file ({exc.strerror})") from exc
    if kind == "photo":
        image = load_for_model(path, max_side=max_side)
        context = _exif_context(path) if with_exif_context else None
        return ModelInput(item_id, mtime_ns, [encode_jpeg(image)], exif_context=context)
    frames = extract_keyframes(path, max_keyframes=max_keyframes, max_side=max_side)
    folder = thumbnails / "keyframes" / str(item_id)
    keyframes = [
        PreparedKeyframe(f.timestamp, save_thumbnail(f.image, folder / f"{f.timestamp:010.3f}.jpg"))
        for f in frames
    ]
    return ModelInput(
        item_id,
        mtime_ns,
        [encode_jpeg(f.image) for f in frames],
        timestamps=[f.timestamp for f in frames],
        keyframes=keyframes,
    )


def _exif_context(path: bytes) -> str | None:
    """ "taken 3 May 2024, Canon EOS R6": helps the model, costs a header read."""
    try:
        with regular_file(path) as stream, Image.open(stream) as im:
            exif = im.getexif() if im.format != "PNG" else Image.Exif()
    except OSError:
        return None
    parts = []
    raw_date = exif.get_ifd(0x8769).get(36867) or exif.get(306)
    if isinstance(raw_date, str):
        try:
            taken = dt.datetime.strptime(raw_date.strip()[:19], "%Y:%m:%d %H:%M:%S")
            parts.append(f"taken {taken.day} {taken:%B %Y}")
        except ValueError:
            pass
    camera = " ".join(
        str(exif.get(tag)).strip() for tag in (EXIF_MAKE, EXIF_MODEL) if exif.get(tag)
    )
    if camera:
        parts.append(camera)
    return ", ".join(parts) or None
