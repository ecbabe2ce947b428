"""Gallery thumbnails per second: cold (decode + write the cache) against warm (cache hit).

Run:  QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_thumbnails.py
          [--count 200] [--size 3000x2000]

Photos are scikit-image's real photographs, resized to --size and saved as quality-90
JPEGs (a camera's output), in a temporary directory. Measured at 256 px:
  1. make_thumbnail in one thread: cold (empty cache), then warm (every file a hit);
  2. ThumbnailService (2 pool threads) end to end, request to thumbnail_ready on the
     GUI thread, QPixmap made: cold with an empty cache, then warm with a new service
     (empty RAM cache) over the disk cache of the cold run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.core.media.thumbnails import make_thumbnail  # noqa: E402
from app.services.thumbnails import ThumbnailService  # noqa: E402
from tests.media_factory import REAL_PHOTOS, write_photo  # noqa: E402

SIDE = 256


def write_photos(folder: Path, count: int, size: tuple[int, int]) -> list[tuple[bytes, int, int]]:
    """(path, mtime_ns, size) of `count` real photos; the same few, differently sized
    by a pixel so that no two files are identical."""
    files = []
    for i in range(count):
        name = REAL_PHOTOS[i % len(REAL_PHOTOS)]
        shape = (size[0] - i % 7, size[1])
        path = write_photo(folder / f"{i:04}.jpg", name, size=shape, quality=90)
        st = path.stat()
        files.append((os.fsencode(path), st.st_mtime_ns, st.st_size))
    return files


def core_rate(cache: Path, files: list[tuple[bytes, int, int]]) -> float:
    started = time.perf_counter()
    for path, mtime, size in files:
        make_thumbnail(cache, path, mtime, size, "photo", SIDE)
    return len(files) / (time.perf_counter() - started)


def service_rate(cache: Path, files: list[tuple[bytes, int, int]]) -> float:
    service = ThumbnailService(cache, side=SIDE, threads=2)
    done: list[int] = []
    loop = QEventLoop()

    def arrived(item_id: int, *_: object) -> None:
        done.append(item_id)
        if len(done) == len(files):
            loop.quit()

    service.thumbnail_ready.connect(arrived)
    service.thumbnail_failed.connect(arrived)
    QTimer.singleShot(600_000, loop.quit)
    started = time.perf_counter()
    for i, (path, mtime, size) in enumerate(files):
        service.request(i, path, mtime, size, "photo")
    loop.exec()
    elapsed = time.perf_counter() - started
    assert len(done) == len(files), f"only {len(done)} of {len(files)} arrived"
    service.shutdown()
    return len(files) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", default="3000x2000", help="photo size, WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    app = QCoreApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="bench-thumbs-") as tmp:
        root = Path(tmp)
        print(f"writing {args.count} real photos at {width}x{height} ...", flush=True)
        files = write_photos(root / "photos", args.count, (width, height))
        megabytes = sum(size for _, _, size in files) / 1e6
        print(f"  {megabytes:.0f} MB of JPEG; thumbnails at {SIDE} px, {os.cpu_count()} CPUs\n")
        cold = core_rate(root / "core", files)
        warm = core_rate(root / "core", files)
        print("make_thumbnail, one thread:")
        print(f"  cold {cold:8.1f} thumbnails/s   warm (cache hit) {warm:9.1f} thumbnails/s")
        cold = service_rate(root / "service", files)
        warm = service_rate(root / "service", files)
        print("ThumbnailService, 2 threads, request -> thumbnail_ready (QPixmap made):")
        print(f"  cold {cold:8.1f} thumbnails/s   warm (disk hit)  {warm:9.1f} thumbnails/s")
    del app


if __name__ == "__main__":
    main()
