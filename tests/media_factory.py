"""Real media files for tests: photos from scikit-image's wheel, videos from OpenCV."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

REAL_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat")
EXIF_IFD = 0x8769
EXIF_DATETIME_ORIGINAL = 36867
EXIF_ORIENTATION = 0x0112


def real_photo(name: str = "astronaut") -> np.ndarray:
    """A real photograph shipped inside scikit-image (RGB uint8)."""
    return getattr(data, name)()


def write_photo(
    path: Path,
    name: str = "astronaut",
    *,
    size: tuple[int, int] | None = None,
    exif_datetime: str | None = None,
    orientation: int | None = None,
    **save: object,
) -> Path:
    """A real photo at `path` (format from the extension), optionally with EXIF
    DateTimeOriginal ("YYYY:MM:DD HH:MM:SS") and an EXIF orientation (1-8)."""
    image = Image.fromarray(real_photo(name))
    if size:
        image = image.resize(size)
    if exif_datetime or orientation:
        exif = Image.Exif()
        if exif_datetime:
            exif.get_ifd(EXIF_IFD)[EXIF_DATETIME_ORIGINAL] = exif_datetime
        if orientation:
            exif[EXIF_ORIENTATION] = orientation
        # Bytes, not the Exif object: Pillow's PNG writer silently drops an Exif
        # object whose only tags sit in the EXIF sub-IFD (the object is "empty").
        save["exif"] = exif.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **save)
    return path


def write_animated_gif(path: Path, *, frames: int = 4, size: tuple[int, int] = (64, 48)) -> Path:
    """A real animated GIF: the same photo in a few tints, 100 ms a frame, looping."""
    base = np.asarray(Image.fromarray(real_photo("chelsea")).resize(size), dtype=np.int16)
    images = [
        Image.fromarray(np.clip(base + 40 * i - 60, 0, 255).astype(np.uint8)) for i in range(frames)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


def write_video(
    path: Path,
    *,
    seconds: float = 2.0,
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    cuts: tuple[float, ...] = (),
) -> Path:
    """An MJPG .avi (or mp4v .mp4) with a solid colour per scene, changing at `cuts`."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix == ".mp4" else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size)
    assert writer.isOpened(), f"OpenCV cannot write {path.suffix}"
    colours = [(40, 40, 200), (40, 200, 40), (200, 40, 40), (200, 200, 40), (40, 200, 200)]
    for i in range(int(seconds * fps)):
        t = i / fps
        scene = sum(1 for c in cuts if t >= c)
        frame = np.full((size[1], size[0], 3), colours[scene % len(colours)], np.uint8)
        cv2.putText(frame, f"{t:.1f}", (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255))
        writer.write(frame)
    writer.release()
    return path


# -- deliberately bad files -------------------------------------------------------------


def write_truncated(path: Path, source: Path, *, keep: float = 0.5) -> Path:
    """The first `keep` fraction of a real file: a download or copy cut short."""
    raw = source.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])
    return path


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write_png_header(
    path: Path, width: int, height: int, *, bit_depth: int = 1, colour_type: int = 0
) -> Path:
    """A tiny PNG (valid signature and chunk CRCs) whose header claims width x height:
    the shape of a decompression bomb without the megabytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )
    return path


def write_large_png(path: Path, width: int, height: int, *, colour_type: int = 2) -> Path:
    """A complete, valid 8-bit PNG of width x height (RGB; 6 for RGBA, 0 for grey),
    streamed a band of rows at a time, so even a 17000x17000 image costs a few MB to
    make (and a few seconds): gradients and tiles, compressing well, filter 0."""
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    x = np.arange(width, dtype=np.uint32)
    packer = zlib.compressobj(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr))
        band = max(1, 4_000_000 // (width * channels + 1))
        for top in range(0, height, band):
            y = np.arange(top, min(height, top + band), dtype=np.uint32)[:, None]
            tiles = (x // 97 + y // 89) * 37 % 256
            planes = [x * 255 // width + 0 * y, y * 255 // height + 0 * x, tiles]
            planes.append(np.full_like(planes[0], 255))
            pixels = np.stack(planes[:channels] if channels > 1 else planes[:1], axis=-1)
            rows = pixels.astype(np.uint8).reshape(len(y), width * channels)
            filtered = np.concatenate([np.zeros((len(y), 1), np.uint8), rows], axis=1)
            if chunk := packer.compress(filtered.tobytes()):
                out.write(_png_chunk(b"IDAT", chunk))
        out.write(_png_chunk(b"IDAT", packer.flush()) + _png_chunk(b"IEND", b""))
    return path


def write_bmp_header(path: Path, width: int, height: int) -> Path:
    """A 1-bit BMP whose header claims width x height, followed by 1 KB of pixels."""
    row = (width + 31) // 32 * 4
    palette = b"\0\0\0\0\xff\xff\xff\0"
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 1, 0, row * height, 2835, 2835, 0, 0)
    header = b"BM" + struct.pack("<IHHI", offset + row * height, 0, 0, offset)
    path.write_bytes(header + info + palette + b"\0" * 1024)
    return path


def write_gif_header(path: Path, width: int, height: int) -> Path:
    """A GIF whose screen and single frame claim width x height, with 2 bytes of data."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    path.write_bytes(screen + frame + b";")
    return path


def write_corner_video(
    path: Path, *, seconds: float = 1.0, fps: int = 10, size: tuple[int, int] = (160, 96)
) -> Path:
    """Grey frames with a red block in the stored top-left corner: shows how a player
    (or our decoder) turned the picture."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix == ".mp4" else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size)
    assert writer.isOpened(), f"OpenCV cannot write {path.suffix}"
    frame = np.full((size[1], size[0], 3), 128, np.uint8)
    frame[: size[1] // 3, : size[0] // 3] = (0, 0, 255)  # BGR red
    for _ in range(int(seconds * fps)):
        writer.write(frame)
    writer.release()
    return path


def set_mp4_rotation(path: Path, degrees: int) -> Path:
    """Give an .mp4 the display matrix a phone writes for a video shot turned by
    `degrees` (clockwise), as in the track header (tkhd) of an iPhone video."""
    a, b = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]
    raw = bytearray(path.read_bytes())
    at = raw.index(b"tkhd")
    version = raw[at + 4]
    # After the box type: version/flags, times and ids (v0: 20 bytes, v1: 32), then
    # 8 reserved, layer, alternate group, volume, 2 reserved: the 3x3 matrix.
    matrix = at + 4 + 4 + (32 if version == 1 else 20) + 8 + 8
    fixed = 1 << 16
    raw[matrix : matrix + 36] = struct.pack(
        ">9i", a * fixed, b * fixed, 0, -b * fixed, a * fixed, 0, 0, 0, 1 << 30
    )
    path.write_bytes(raw)
    return path
