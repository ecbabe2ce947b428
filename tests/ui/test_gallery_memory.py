"""The gallery's memory is bounded by its caches, not by the library's size.

A library of 10,000 items (made with direct SQL, as the benchmark makes its 100,000)
is scrolled from top to bottom a screen at a time in the real window. What the gallery
holds afterwards is counted, not timed or measured as RSS (that figure belongs to
tests/benchmarks/bench_gallery.py): thumbnails and scaled copies in their byte budgets,
rows under ROW_CACHE although more than that were read, the thumbnail queue under its
cap, and no per-row objects left behind by the tasks that read the rows.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from PySide6.QtGui import QPixmap

from app.core.datadir import DataDir
from app.core.gallery import GalleryRow
from app.services import background
from app.services.thumbnails import MAX_QUEUED, RAM_ENTRIES
from app.ui.gallery.delegate import SCALED_BYTES, SCALED_CACHE
from app.ui.gallery.model import FETCH_BATCH, ROW_CACHE
from app.ui.window.main_window import THUMBNAIL_RAM_BYTES
from tests.gallery_library import make_library

pytestmark = pytest.mark.timeout(300)

ITEMS = 10_000
# What the gallery may hold in pixels after any scroll, whatever the library's size.
PIXEL_BUDGET = THUMBNAIL_RAM_BYTES + SCALED_BYTES  # 96 MB
THUMBNAILS_EVERY = 16  # screens: wait for every thumbnail on one screen in this many


def alive(kind: type) -> int:
    gc.collect()
    return sum(isinstance(o, kind) for o in gc.get_objects())


def test_scrolling_through_10000_items_holds_only_what_the_caches_allow(
    qtbot, tmp_path: Path, data_dir: DataDir, open_window
):
    make_library(data_dir.root, tmp_path / "Photos", ITEMS)
    window = open_window()
    gallery, model, thumbs = window.gallery, window.gallery_model, window.thumbnails
    qtbot.waitUntil(lambda: model.rowCount() == ITEMS, timeout=30_000)
    rows_read: list[int] = []
    model.rows_loaded.connect(lambda ids: rows_read.extend(ids))

    def on_screen_loaded(with_thumbnails: bool) -> bool:
        visible = [model.row_of(i) for i in gallery.visible_ids()]
        if not visible or any(r is None for r in visible):
            return False
        return not with_thumbnails or all(
            r is not None and thumbs.cached(r.id, r.mtime_ns) for r in visible
        )

    bar = gallery.verticalScrollBar()
    screens = 0
    while True:
        with_thumbnails = screens % THUMBNAILS_EVERY == 0
        qtbot.waitUntil(lambda: on_screen_loaded(with_thumbnails), timeout=30_000)  # noqa: B023
        screens += 1
        if bar.value() >= bar.maximum():
            break
        bar.setValue(min(bar.maximum(), bar.value() + bar.pageStep()))
    last = model.index(ITEMS - 1)
    assert gallery.viewport().rect().intersects(gallery.visualRect(last))

    pixmaps, pixmap_bytes, queued = thumbs.cache_size()
    scaled, scaled_bytes = gallery.delegate.scaled_cache_size()
    assert len(set(rows_read)) == ITEMS  # every row was read once it was on screen...
    assert model.cached_rows() <= ROW_CACHE < ITEMS  # ...and most were let go again
    assert alive(GalleryRow) <= ROW_CACHE + FETCH_BATCH  # nothing else keeps rows
    assert pixmaps <= RAM_ENTRIES and pixmap_bytes <= THUMBNAIL_RAM_BYTES
    assert scaled <= SCALED_CACHE and scaled_bytes <= SCALED_BYTES
    assert pixmap_bytes + scaled_bytes <= PIXEL_BUDGET
    # The budgets were reached (the bounds, not a short scroll, kept the caches small):
    assert pixmap_bytes > THUMBNAIL_RAM_BYTES * 0.8 and scaled_bytes > SCALED_BYTES * 0.8
    assert alive(QPixmap) <= RAM_ENTRIES + SCALED_CACHE + 50  # icons, the activity panel
    assert queued <= MAX_QUEUED
    assert alive(background._Relay) <= 4  # tasks still running, none left from the scroll
