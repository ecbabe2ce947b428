"""Photos as the captioning model wants them: small, upright, 8-bit RGB.

A vision model sees a few hundred pixels a side, so decoding a 24 MP original only
to throw most of it away is the expensive mistake to avoid: JPEGs are decoded at a
reduced DCT scale (Pillow's draft mode, ~10x less work) and only then resized.
Everything odd a photo library holds (palette, CMYK, 16-bit, alpha, animations,
HEIC, rotated phone shots) comes out the same way, or as a MediaError with a
reason the user can act on.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from app.core.media.decoders import (
    HEIF_MISSING,
    HEIF_SUFFIXES,
    HEIF_SUPPORTED,
    MAX_PIXELS,
    looks_like_heif,
    require_file,
)
from app.core.media.errors import MediaError
from app.core.os_errors import describe_os_error
from models.regular_file import NotRegularFile, regular_file

WHITE = (255, 255, 255)
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
EXIF_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Memory: formats without reduced decoding (PNG, TIFF, WebP, BMP, GIF) decode the full
# bitmap; JPEGs decode at their draft scale. That one bitmap is all a photo ever holds
# at full size (Pillow keeps at most 4 bytes a pixel, so at most 1.2 GB at the 300 MP
# limit): it is box-reduced band by band straight after decoding, and everything else
# (orientation, mode, the final resize) works on the reduced copy. Before, a
# 17000x17000 PNG took 2.4 GB (the bitmap plus a full-size copy); now ~1.2 GB (see
# tests/benchmarks/bench_photo_memory.py).
MAX_DECODED_BYTES = MAX_PIXELS * 4
REDUCING_GAP = 2  # box-reduce to at least twice the target, then LANCZOS (as thumbnail())
REDUCE_BAND_BYTES = 16 * 2**20  # rows converted and reduced at a time


def load_for_model(path: bytes | str, max_side: int = 768) -> Image.Image:
    """The photo at `path` as an upright RGB image no larger than `max_side` a side.

    Raises MediaError (truncated, not an image, too large, unreadable, vanished)."""
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    require_file(path)
    _refuse_unreadable_heif(path)
    try:
        with regular_file(path) as stream, Image.open(stream) as im:
            width, height = im.size
            if width * height > MAX_PIXELS:  # before any pixel is decoded
                raise MediaError(f"image too large ({width}x{height} pixels)")
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)  # animations: the first frame stands for the whole
            _draft(im, max_side)
            _refuse_oversized_decode(im)
            im.load()
            orientation = im.getexif().get(EXIF_ORIENTATION, 1)
            # From here on nothing is the full size: one decoded bitmap at most.
            upright = _upright(_reduced(im, max_side), orientation)
            turned = orientation in (5, 6, 7, 8)  # a quarter turn
            full = (height, width) if turned else (width, height)
            return _fit(_to_rgb(upright), max_side, shape_of=full)
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:
        raise MediaError(f"image too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise MediaError("not an image Captionist can read (wrong extension or corrupt)") from exc
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotRegularFile) as exc:
        raise MediaError(describe_os_error(exc)) from exc
    except OSError as exc:  # Pillow reports a short read as OSError("image file is truncated")
        raise MediaError(f"truncated or corrupt image ({exc})") from exc
    except (SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise MediaError(f"corrupt image ({exc})") from exc


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """JPEG bytes for a data URI: ~10x smaller than PNG for photos, and what every
    multimodal projector decodes fastest."""
    buffer = io.BytesIO()
    rgb = image if image.mode == "RGB" else _to_rgb(image)
    rgb.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def save_thumbnail(image: Image.Image, dest: Path, max_side: int = 320) -> Path:
    """Write a JPEG thumbnail atomically (temp file + os.replace): a reader never sees
    half a file, and a crash leaves at worst a stray temp file, never a broken thumb."""
    thumb = _fit(image if image.mode == "RGB" else _to_rgb(image), max_side)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            thumb.save(out, "JPEG", quality=85)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


# -- steps ------------------------------------------------------------------------------
def _refuse_unreadable_heif(path: bytes | str) -> None:
    """Without pillow-heif, say so instead of "not an image" (by name or by content)."""
    if HEIF_SUPPORTED:
        return
    if os.fsdecode(path).lower().endswith(HEIF_SUFFIXES):
        raise MediaError(HEIF_MISSING)
    try:
        with regular_file(path) as f:
            head = f.read(12)
    except OSError as exc:
        raise MediaError(describe_os_error(exc)) from exc
    if looks_like_heif(head):
        raise MediaError(HEIF_MISSING)


def _draft(im: Image.Image, max_side: int) -> None:
    """Ask the JPEG decoder for the smallest DCT scale (1/2, 1/4, 1/8) that still
    gives at least the target size, so the final resize only ever shrinks.

    Asked for the target with the image's own aspect ratio: Pillow picks the scale
    from the tighter of the two sides. Other formats ignore draft()."""
    width, height = im.size
    scale = max_side / max(width, height)
    if scale < 1:
        im.draft(None, (max(1, int(width * scale)), max(1, int(height * scale))))


def _decoded_bytes(mode: str, size: tuple[int, int]) -> int:
    """What Pillow holds for a decoded image: 1 byte a pixel for 1/L/P, 2 for 16-bit
    grey, 4 for everything else (multi-band modes are stored 4 bytes a pixel)."""
    per_pixel = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    return size[0] * size[1] * per_pixel


def _refuse_oversized_decode(im: Image.Image) -> None:
    """A per-item error, before decoding, for a bitmap beyond MAX_DECODED_BYTES (asked
    after draft(), so a JPEG is judged at the scale it will really decode at)."""
    need = _decoded_bytes(im.mode, im.size)
    if need > MAX_DECODED_BYTES:
        raise MediaError(
            f"image too large to decode ({im.size[0]}x{im.size[1]} {im.mode} needs "
            f"{need / 1e9:.1f} GB; the limit is {MAX_DECODED_BYTES / 1e9:.1f} GB)"
        )


def _reduced(im: Image.Image, max_side: int) -> Image.Image:
    """`im` box-reduced by a whole factor to about REDUCING_GAP x `max_side`, a band of
    rows at a time so no conversion ever copies the whole bitmap (Pillow's own
    reduce() converts RGBA to premultiplied alpha in a full-size copy). `im` itself
    when it is small enough already."""
    width, height = im.size
    factor = max(width, height) // (max_side * REDUCING_GAP)
    if factor < 2:
        return im
    row_bytes = max(1, _decoded_bytes(im.mode, (width, 1)))
    rows = max(1, REDUCE_BAND_BYTES // row_bytes // factor) * factor
    out: Image.Image | None = None
    for top in range(0, height, rows):
        band = _reducible(im.crop((0, top, width, min(height, top + rows)))).reduce(factor)
        if out is None:
            out = Image.new(band.mode, (-(-width // factor), -(-height // factor)))
        out.paste(band, (0, top // factor))
    assert out is not None
    return out.convert("I;16") if im.mode.startswith("I;16") else out


def _reducible(band: Image.Image) -> Image.Image:
    """A band in a mode reduce() averages, keeping transparency as an alpha band."""
    if "transparency" in band.info and band.mode in ("1", "L", "P", "RGB"):
        return band.convert("LA" if band.mode in ("1", "L") else "RGBA")
    if band.mode.startswith("I;16"):
        return band.convert("I")
    return band.convert({"1": "L", "P": "RGB", "PA": "RGBA"}.get(band.mode, band.mode))


def _upright(im: Image.Image, orientation: object) -> Image.Image:
    """Turned as the EXIF orientation (read from the original) says."""
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return im.transpose(method) if method is not None else im


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB, transparency composited over white (what a
    viewer shows, and it keeps black line art on a transparent PNG visible)."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _high_depth_to_l(im).convert("RGB")
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")  # P, L, 1, CMYK, YCbCr, ...


def _high_depth_to_l(im: Image.Image) -> Image.Image:
    """16/32-bit grey to 8-bit by scaling, not clipping: Pillow's convert("L") clips,
    turning a 16-bit photo (values up to 65535) almost entirely white. PNG stores 16
    bits even when a scanner used fewer, so the range is the container's, not the
    image's own peak (which would brighten dark scans)."""
    values = np.asarray(im, dtype=np.float64)
    peak = float(values.max(initial=0.0))
    if im.mode.startswith("I;16"):
        top = 65535.0
    elif im.mode == "F" and peak <= 1.0:
        top = 1.0  # float images usually hold 0..1
    else:  # 32-bit: the smallest usual range the values fit (8-bit, 16-bit, else the peak)
        top = next((limit for limit in (255.0, 65535.0) if peak <= limit), peak)
    scaled = np.clip(values * (255.0 / top), 0, 255)
    return Image.fromarray(np.round(scaled).astype(np.uint8))


def _fit(im: Image.Image, max_side: int, *, shape_of: tuple[int, int] | None = None) -> Image.Image:
    """Shrink so the longest side is at most `max_side` (never enlarges). The size is
    worked out from `shape_of` (the undecoded original's) when given, so a reduced or
    draft-decoded copy comes out exactly as the full image would have."""
    width, height = shape_of or im.size
    scale = max_side / max(width, height)
    if scale >= 1:
        return im
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return im.resize(size, Image.Resampling.LANCZOS)
