"""What the details panel reads, run on the background pool (never the GUI thread).

The database read, the preview decode and the moment thumbnails are separate
tasks so the words appear before the picture, and a refresh after an edit re-reads
only the words. QImage (not QPixmap) is safe to make here; the GUI thread turns it
into a pixmap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PySide6.QtGui import QImage

from app.core.datadir import DataDir
from app.core.item_details import ItemDetails, item_details
from app.core.item_problem import caption_failure
from app.core.media.errors import MediaError
from app.core.media.photo import load_for_model
from app.core.media.thumbnails import make_thumbnail
from app.core.storage.db import Database

PREVIEW_SIDE = 1024  # sharp on a HiDPI panel ~500 px wide, a fraction of a 24 MP decode


@dataclass(frozen=True, slots=True)
class LoadedItem:
    details: ItemDetails
    job_error: str | None  # why the newest caption job failed, if it did


def load_item(db: Database, item_id: int) -> LoadedItem | None:
    details = item_details(db, item_id)
    if details is None:
        return None
    return LoadedItem(details, caption_failure(db, item_id))


def default_cache_dir(db: Database) -> Path:
    """The data directory's thumbnail cache (the database lives at its root)."""
    return DataDir(Path(db.path).parent).thumbnails


def load_preview(details: ItemDetails, cache_dir: Path, side: int = PREVIEW_SIDE) -> QImage:
    """The item's picture, upright, at most `side` a side. A video shows a frame a
    tenth of the way in, cached on disk like a gallery thumbnail (a video decode is
    slow; the same preview is asked for again each time the item is selected).
    Raises MediaError with the reason when the file cannot be shown."""
    if details.kind == "photo":
        return pil_to_qimage(load_for_model(details.path, max_side=side))
    file = make_thumbnail(
        cache_dir, os.fsencode(details.path), details.mtime_ns, details.size, "video", side
    )
    image = _read_image(str(file))
    if image is None:
        raise MediaError("the video's preview frame could not be read")
    return image


def load_thumbnails(paths: list[str | None]) -> list[QImage | None]:
    """Moment thumbnails (small JPEGs the caption worker saved); None if missing."""
    return [_read_image(p) if p else None for p in paths]


def pil_to_qimage(image: Image.Image) -> QImage:
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    width, height = rgb.size
    # copy(): the QImage must own its pixels once `data` goes away.
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def _read_image(path: str) -> QImage | None:
    image = QImage(path)
    return None if image.isNull() else image
