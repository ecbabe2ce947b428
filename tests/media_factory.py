"""Real media files for tests: photos from scikit-image's wheel, videos from OpenCV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

REAL_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat")


def real_photo(name: str = "astronaut") -> np.ndarray:
    """A real photograph shipped inside scikit-image (RGB uint8)."""
    return getattr(data, name)()


def write_photo(path: Path, name: str = "astronaut", *, size: tuple[int, int] | None = None,
                exif_datetime: str | None = None, **save: object) -> Path:
    image = Image.fromarray(real_photo(name))
    if size:
        image = image.resize(size)
    if exif_datetime:
        exif = Image.Exif()
        exif.get_ifd(0x8769)[36867] = exif_datetime
        save["exif"] = exif
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **save)
    return path


def write_video(path: Path, *, seconds: float = 2.0, fps: int = 10, size: tuple[int, int] = (160, 120),
                cuts: tuple[float, ...] = ()) -> Path:
    """An MJPG .avi (or mp4v .mp4) with a solid colour per scene, changing at `cuts`."""
    import cv2

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
