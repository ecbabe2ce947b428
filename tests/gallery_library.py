"""A gallery library of any size, made in seconds with direct SQL: for the gallery
benchmark (tests/benchmarks/bench_gallery.py) and the gallery's memory guard
(tests/ui/test_gallery_memory.py).

Every item is its own file (a hard link to one of 40 real JPEGs from scikit-image),
so each gets its own thumbnail; half of them are captioned.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

PHOTOS = [
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "camera",
    "cat",
    "hubble_deep_field",
    "immunohistochemistry",
    "coins",
    "page",
]


def make_library(data: Path, photos_dir: Path, count: int, *, caption_every: int = 2) -> None:
    """N items in one folder tree: hard links to a few real JPEGs, one in
    `caption_every` captioned (half by default)."""
    from PIL import Image
    from skimage import data as skdata

    from app.core.storage.db import Database

    sources = []
    for n, name in enumerate(PHOTOS * 4):
        path = photos_dir / "sources" / f"{n:02d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(getattr(skdata, name)()).convert("RGB")
        image.rotate(n * 9).save(path, quality=85)
        sources.append(path)
    db = Database(data / "library.db")
    rows, captions = [], []
    now = time.time()
    with db.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO roots (id, path, enabled, added_at, watch_state) "
            "VALUES (1, ?, 1, ?, 'off')",
            (os.fsencode(photos_dir), now),
        )
    for i in range(count):
        folder = photos_dir / f"{2000 + i // 5000}" / f"{i // 500 % 10:02d}"
        if i % 500 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        source = sources[i % len(sources)]
        path = folder / f"IMG_{i:06d}.jpg"
        os.link(source, path)
        st = path.stat()
        taken = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now - i * 3600))
        rows.append(
            (
                i + 1,
                1,
                os.fsencode(path),
                path.name,
                folder.name,
                "photo",
                st.st_size,
                st.st_mtime_ns,
                f"{st.st_size}:{i}",
                512,
                512,
                taken,
                now,
                "ok",
            )
        )
        if i % caption_every == 0:
            captions.append(
                (
                    i + 1,
                    f"photo number {i} of a quiet street at dusk",
                    json.dumps(["street", "dusk"]),
                    "model",
                    now,
                )
            )
    # Through the search-index triggers, as the scanner's writes go (about a minute).
    with db.write() as conn:
        conn.connection.executemany(
            """INSERT INTO media_items (id, root_id, path, name, folder, kind, size, mtime_ns,
                fingerprint, width, height, taken_at, added_at, state)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )
        conn.connection.executemany(
            "INSERT INTO captions (item_id, text, tags, source, created_at) VALUES (?, ?, ?, ?, ?)",
            captions,
        )
    db.close()
