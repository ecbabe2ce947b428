"""Everything the details panel shows about one item, read in one go off the GUI thread:
the file, its current caption with provenance, the caption history, a video's
moments, and a short EXIF summary read from the file itself."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from PIL import ExifTags, Image, UnidentifiedImageError

from app.core.captions import USER
from app.core.storage.caption_rows import item_caption_versions, item_moments
from app.core.storage.db import Database
from app.core.storage.item_rows import item_row
from models.regular_file import regular_file

EXIF_IFD, GPS_IFD = 0x8769, 0x8825


@dataclass(frozen=True, slots=True)
class Version:
    """One caption version, with where it came from."""

    id: int
    text: str
    tags: tuple[str, ...]
    language: str | None
    source: str  # "model" | "user"
    model_id: str | None
    prompt_id: str | None
    adapter_id: str | None
    created_at: float
    server: str | None = None  # the inference server that made it; None: this computer

    @property
    def by_user(self) -> bool:
        return self.source == USER


@dataclass(frozen=True, slots=True)
class Moment:
    keyframe_id: int
    timestamp: float
    thumbnail: str | None
    caption: str | None


@dataclass(frozen=True, slots=True)
class ItemDetails:
    id: int
    path: str
    name: str
    folder: str
    kind: str
    size: int
    mtime_ns: int
    width: int | None
    height: int | None
    duration: float | None
    taken_at: str | None
    state: str
    error: str | None
    reviewed_caption_id: int | None
    history: tuple[Version, ...]  # newest first; the current one is `current`
    moments: tuple[Moment, ...]
    exif: tuple[tuple[str, str], ...]  # (label, value) in display order

    @property
    def current(self) -> Version | None:
        """The newest user caption, else the newest model caption."""
        mine = [v for v in self.history if v.by_user]
        return next(iter(mine or self.history), None)

    @property
    def needs_review(self) -> bool:
        current = self.current
        return (
            current is not None and not current.by_user and (current.id != self.reviewed_caption_id)
        )


def item_details(db: Database, item_id: int) -> ItemDetails | None:
    with db.read() as conn:
        item = item_row(conn, item_id)
        if item is None:
            return None
        versions = item_caption_versions(conn, item_id)
        moments = item_moments(conn, item_id)
    path = os.fsdecode(item[1])
    return ItemDetails(
        id=item[0],
        path=path,
        name=item[2],
        folder=item[3],
        kind=item[4],
        size=item[5],
        mtime_ns=item[6],
        width=item[7],
        height=item[8],
        duration=item[9],
        taken_at=item[10],
        state=item[11],
        error=item[12],
        reviewed_caption_id=item[13],
        history=tuple(
            Version(v[0], v[1], tuple(json.loads(v[2] or "[]")), *v[3:]) for v in versions
        ),
        moments=tuple(
            Moment(m[0], m[1], os.fsdecode(m[2]) if m[2] else None, m[3]) for m in moments
        ),
        exif=exif_summary(path) if item[4] == "photo" else (),
    )


def exif_summary(path: str) -> tuple[tuple[str, str], ...]:
    """Camera, lens, date, exposure and place from a photo's EXIF header; () if none
    or unreadable (the details panel then simply shows no EXIF section)."""
    try:
        with regular_file(path) as stream, Image.open(stream) as im:
            exif = im.getexif()
            sub = exif.get_ifd(EXIF_IFD)
            gps = exif.get_ifd(GPS_IFD)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return ()
    tags = ExifTags.Base
    camera = " ".join(
        str(v).strip("\x00 ") for v in (exif.get(tags.Make), exif.get(tags.Model)) if v
    )
    fields = [
        ("Camera", camera),
        ("Lens", _text(sub.get(tags.LensModel))),
        ("Taken", _text(sub.get(tags.DateTimeOriginal) or exif.get(tags.DateTime))),
        ("Exposure", _exposure(sub.get(tags.ExposureTime))),
        ("Aperture", _number(sub.get(tags.FNumber), "f/{:.1f}")),
        ("ISO", _text(sub.get(tags.ISOSpeedRatings))),
        ("Focal length", _number(sub.get(tags.FocalLength), "{:.0f} mm")),
        ("Place", _place(gps)),
    ]
    return tuple((label, value) for label, value in fields if value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip("\x00 ")


def _number(value: Any, pattern: str) -> str:
    try:
        return pattern.format(float(value)) if value is not None else ""
    except (TypeError, ValueError, ZeroDivisionError):
        return ""


def _exposure(value: Any) -> str:
    try:
        seconds = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return ""
    if 0 < seconds < 1:
        return f"1/{round(1 / seconds)} s"
    return f"{seconds:g} s"


def _place(gps: dict[int, Any]) -> str:
    """Decimal latitude, longitude from the GPS IFD (2: lat, 1: N/S, 4: lon, 3: E/W)."""
    try:
        lat = _degrees(gps[2]) * (-1 if gps.get(1) == "S" else 1)
        lon = _degrees(gps[4]) * (-1 if gps.get(3) == "W" else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return ""
    return f"{lat:.5f}, {lon:.5f}"


def _degrees(dms: Any) -> float:
    d, m, s = (Fraction(float(x)) for x in dms)
    return float(d + m / 60 + s / 3600)
