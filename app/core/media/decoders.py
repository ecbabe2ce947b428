"""Decoder set-up shared by the probe, photo loading and video keyframes.

Importing this module configures Pillow once for the whole process (pixel limit,
HEIF opener), so every reader of media files applies the same rules.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator

from PIL import Image

from app.core.media.errors import MediaError
from app.core.os_errors import describe_os_error

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
    """MediaError unless `path` is a non-empty file we may read: a clearer reason than
    any decoder gives for a vanished, unreadable or empty file."""
    try:
        if os.stat(path).st_size == 0:
            raise MediaError("empty file (0 bytes)")
    except OSError as exc:
        raise MediaError(describe_os_error(exc)) from exc


def looks_like_heif(head: bytes) -> bool:
    """True for the first 12 bytes of a HEIF file, whatever its name says."""
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


@contextlib.contextmanager
def opencv_path(path: bytes | str) -> Iterator[str]:
    """A str path OpenCV can open, even for names that are not valid UTF-8."""
    text = os.fsdecode(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # OpenCV takes UTF-8 only; on Linux the open file's /proc path reaches it.
        fd = os.open(path, os.O_RDONLY)
        try:
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    yield text
