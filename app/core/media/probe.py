"""Cheap per-file metadata read at index time: dimensions, date taken, duration.

The probe also proves the file is what its name says: a text file named .jpg, a
truncated JPEG or a video with no picture gets a clear, per-item reason here, long
before the captioner would trip over it.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from app.core.library.fingerprint import fingerprint
from app.core.media.decoders import HEIF_MISSING, HEIF_SUPPORTED, MAX_PIXELS, opencv_path
from app.core.media.errors import MediaError
from app.core.os_errors import describe_os_error
from models.regular_file import NotRegularFile, regular_file

EXIF_IFD = 0x8769
EXIF_DATETIME_ORIGINAL = 36867
TIFF_DATETIME = 306
TIFF_ORIENTATION = 0x0112


@dataclass(frozen=True, slots=True)
class ProbeResult:
    fingerprint: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    taken_at: str | None = None
    error: str | None = None


class ProbeError(MediaError):
    """A per-item problem with a user-facing reason."""


def probe(path: bytes, kind: str, mtime_ns: int) -> ProbeResult:
    """Read what the library shows about a file. Never raises for a bad file."""
    try:
        print_ = fingerprint(path)
    except OSError as exc:
        return ProbeResult(error=describe_os_error(exc))
    try:
        if os.path.getsize(path) == 0:
            raise ProbeError("empty file (0 bytes)")
        if kind == "photo":
            width, height, taken, duration = *_probe_photo(path), None
        else:
            width, height, duration = _probe_video(path)
            taken = None
    except ProbeError as exc:
        return ProbeResult(fingerprint=print_, error=str(exc))
    except OSError as exc:
        return ProbeResult(fingerprint=print_, error=describe_os_error(exc))
    except Exception as exc:  # a decoder bug on one odd file must not stop a scan
        return ProbeResult(fingerprint=print_, error=f"could not read the file ({exc!r})")
    taken = taken or _local_iso(mtime_ns)
    return ProbeResult(print_, width, height, duration, taken)


def _probe_photo(path: bytes) -> tuple[int, int, str | None]:
    name = os.fsdecode(path).lower()
    if name.endswith((".heic", ".heif")) and not HEIF_SUPPORTED:
        raise ProbeError(HEIF_MISSING)
    try:
        with regular_file(path) as stream, Image.open(stream) as im:
            width, height = im.size
            if width * height > MAX_PIXELS:  # before anything decodes pixels
                raise ProbeError(f"image too large ({width}x{height} pixels)")
            exif = _header_exif(im)
            taken = _exif_datetime(exif)
            if exif.get(TIFF_ORIENTATION) in (5, 6, 7, 8):  # rotated a quarter turn
                width, height = height, width
            _check_decodes(path, im)
    except Image.DecompressionBombError as exc:
        raise ProbeError(f"image too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ProbeError("not an image Captionist can read (wrong extension or corrupt)") from exc
    except (SyntaxError, ValueError, EOFError) as exc:
        raise ProbeError(f"corrupt image ({exc})") from exc
    except OSError as exc:
        if isinstance(exc, PermissionError | FileNotFoundError | NotRegularFile):
            raise
        raise ProbeError(f"truncated or corrupt image ({exc})") from exc
    return width, height, taken


def _header_exif(im: Image.Image) -> Image.Exif:
    """EXIF without decoding pixels: PNG's getexif() loads the whole image to look
    for an eXIf chunk after the pixel data; the header's copy is enough for us."""
    if im.format != "PNG":
        return im.getexif()
    exif = Image.Exif()
    if raw := im.info.get("exif"):
        exif.load(raw)
    return exif


def _check_decodes(path: bytes, im: Image.Image) -> None:
    """Decode cheaply enough to catch truncation: JPEGs at 1/8 scale, PNGs by CRC."""
    if im.format == "PNG":
        # verify() must come straight after open()
        with regular_file(path) as stream, Image.open(stream) as fresh:
            fresh.verify()
        return
    im.draft("RGB", (256, 256))
    im.load()


def _exif_datetime(exif: Image.Exif) -> str | None:
    raw = exif.get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL) or exif.get(TIFF_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        return dt.datetime.strptime(raw.strip()[:19], "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None


def _local_iso(mtime_ns: int) -> str:
    return dt.datetime.fromtimestamp(mtime_ns / 1e9).replace(microsecond=0).isoformat()


def _probe_video(path: bytes) -> tuple[int, int, float]:
    import cv2  # imported here: OpenCV costs ~0.2 s to import and photos never need it

    with opencv_path(path) as cv_path:
        cap = cv2.VideoCapture(cv_path)
        try:
            if not cap.isOpened():
                raise ProbeError("not a video Captionist can read (wrong extension or corrupt)")
            width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
            frames = cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0
            ok, _frame = cap.read()
            if not ok or width <= 0 or height <= 0:
                raise ProbeError("no picture: the video has no decodable frames (audio only?)")
            # With auto-orientation on (OpenCV's default) FRAME_WIDTH/HEIGHT are
            # already the displayed size; swap only where a backend ignores it.
            rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META))
            if rotation in (90, 270) and not cap.get(cv2.CAP_PROP_ORIENTATION_AUTO):
                width, height = height, width
        finally:
            cap.release()
    duration = frames / fps if fps > 0 and frames > 0 else 0.0
    return width, height, round(duration, 3)
