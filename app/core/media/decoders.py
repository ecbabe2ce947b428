"""Decoder set-up shared by the probe, photo loading and video keyframes.

Importing this module configures Pillow once for the whole process (pixel limit,
HEIF opener), and quiets OpenCV's FFmpeg backend (whose own log lines about a corrupt
file would otherwise land on the user's terminal: we report those files ourselves),
so every reader of media files applies the same rules.

Every user file is opened through models.regular_file: a FIFO or device swapped in
for a photo is refused ("not a regular file (a FIFO)") instead of blocking forever.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator

from PIL import Image

from app.core.media.errors import MediaError
from app.core.os_errors import describe_os_error
from models.regular_file import regular_path, regular_size

# FFmpeg's log level is read when OpenCV opens its first capture: quiet (AV_LOG_QUIET).
# setdefault, so a developer can still ask for FFmpeg's messages.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

# Refuse decompression bombs with a clear error rather than Pillow's warning; 300 MP
# still admits the largest stitched panoramas people keep.
MAX_PIXELS = 300_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Pillow warns between 1x and 2x the limit; we refuse those ourselves right after
# reading the header, before any pixel is decoded, so the warning is only noise.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

try:  # optional: HEIC/HEIF from phones
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the install
    HEIF_SUPPORTED = False

HEIF_MISSING = "HEIC/HEIF photos need the optional pillow-heif package"
HEIF_SUFFIXES = (".heic", ".heif")
# ISO-BMFF brands of HEIF still images (an "ftyp" box at offset 4 of the file).
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def require_file(path: bytes | str) -> None:
    """MediaError unless `path` is a non-empty regular file we may read: a clearer
    reason than any decoder gives for a vanished, unreadable, special or empty file."""
    try:
        if regular_size(path) == 0:
            raise MediaError("empty file (0 bytes)")
    except OSError as exc:
        raise MediaError(describe_os_error(exc)) from exc


def looks_like_heif(head: bytes) -> bool:
    """True for the first 12 bytes of a HEIF file, whatever its name says."""
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


@contextlib.contextmanager
def opencv_path(path: bytes | str) -> Iterator[str]:
    """A str path OpenCV can open: the checked regular file's /proc/self/fd path on
    Linux (never a FIFO that would block FFmpeg's open, and right for names that are
    not valid UTF-8, which OpenCV cannot take). Raises OSError (NotRegularFile)."""
    _quiet_opencv()
    with regular_path(path) as checked:
        yield checked


_opencv_quieted = False


def _quiet_opencv() -> None:
    """OpenCV's own warnings ("backend ... can't be used to capture by name") off too;
    its log level, unlike FFmpeg's, can be set at any time after the import."""
    global _opencv_quieted
    if not _opencv_quieted:
        import cv2  # here: photo-only processes never pay for importing OpenCV

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        _opencv_quieted = True
