"""The folder watcher under a burst: 5,000 new photos written into a watched folder.

Run:  .venv/bin/python tests/benchmarks/bench_watcher.py [--files N]

Writes N small, valid, distinct JPEGs into a watched library folder as fast as
Python can, then measures how long the watcher takes to index and probe all of
them and fall quiet, and checks that every file became exactly one item. Default
watcher settings (debounce 0.5 s, stability 0.3 s, batches of 500). Everything
lives in a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core.datadir import DataDir  # noqa: E402
from app.core.library.library import Library  # noqa: E402
from app.core.library.reconcile import ScanReport  # noqa: E402
from app.core.library.watcher import LibraryWatcher, mount_type  # noqa: E402
from app.core.storage.db import Database  # noqa: E402

QUIET_TIMEOUT_S = 300.0


def base_jpeg() -> bytes:
    """One small photo-like JPEG, encoded once."""
    image = Image.radial_gradient("L").resize((96, 64)).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def jpeg_variant(base: bytes, number: int) -> bytes:
    """The base JPEG with a COM segment right after SOI: valid, and unique per number."""
    text = b"captionist watcher benchmark %09d" % number
    return base[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + base[2:]


def item_counts(library: Library) -> tuple[int, int, int, int]:
    """(rows, distinct paths, rows probed ok, distinct fingerprints)."""
    with library.db.read() as conn:
        row = conn.exec_driver_sql(
            """SELECT count(*), count(DISTINCT path), count(*) FILTER (WHERE state = 'ok'),
                      count(DISTINCT fingerprint) FROM media_items"""
        ).one()
    return row[0], row[1], row[2], row[3]


def wait_until_all_probed(library: Library, files: int, deadline: float) -> None:
    while item_counts(library)[2] < files and time.perf_counter() < deadline:
        time.sleep(0.05)


def run(files: int) -> bool:
    base = base_jpeg()
    variants = [jpeg_variant(base, i) for i in range(files)]  # encoded before the clock
    with tempfile.TemporaryDirectory(prefix="captionist-bench-watcher-") as tmp:
        data_dir = DataDir.resolve(Path(tmp) / "data")
        db = Database(data_dir.database)
        library = Library(db)
        photos = Path(tmp) / "photos"
        photos.mkdir()
        root = library.add_root(photos)
        reports: list[ScanReport] = []
        watcher = LibraryWatcher(library, on_report=reports.append)
        watcher.start([root.id])
        state = next(r.watch_state for r in library.roots() if r.id == root.id)

        start = time.perf_counter()
        for i, data in enumerate(variants):
            (photos / f"IMG_{i:05d}.jpg").write_bytes(data)
        written = time.perf_counter()
        wait_until_all_probed(library, files, start + QUIET_TIMEOUT_S)
        all_probed = time.perf_counter()
        idle = watcher.wait_idle(max(0.0, start + QUIET_TIMEOUT_S - time.perf_counter()))
        quiet = time.perf_counter()

        rows, paths, ok, prints = item_counts(library)
        stop_start = time.perf_counter()
        watcher.stop()
        stopped = time.perf_counter()
        fstype = mount_type(os.fsencode(os.path.realpath(photos))) or "unknown"
        db.close()

    passed = idle and rows == paths == ok == prints == files
    figures = [
        ("files written in the burst", f"{files:,}"),
        ("time to write the burst", f"{written - start:8.2f} s"),
        ("time until all indexed and probed", f"{all_probed - start:8.2f} s"),
        ("time until quiet (indexed + watcher idle)", f"{quiet - start:8.2f} s"),
        ("items/s (burst start to quiet)", f"{files / (quiet - start):8.0f}"),
        ("items in the database", f"{rows:,}"),
        ("distinct paths / probed ok / fingerprints", f"{paths:,} / {ok:,} / {prints:,}"),
        ("batches (reports)", f"{len(reports)}"),
        ("largest batch (new items)", f"{max((r.new for r in reports), default=0)}"),
        ("errors reported", f"{sum(len(r.errors) for r in reports)}"),
        ("stop()", f"{stopped - stop_start:8.3f} s"),
    ]
    print(
        f"watcher benchmark: {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, temp folder on {fstype}, "
        f"root {state}"
    )
    width = max(len(name) for name, _ in figures)
    value_width = max(len(value.strip()) for _, value in figures)
    rule = "-" * (width + 2 + value_width)
    print(rule)
    for name, value in figures:
        print(f"{name:<{width}}  {value.strip():>{value_width}}")
    print(rule)
    verdict = "PASS" if passed else "FAIL"
    print(f"{verdict}: all {files:,} indexed, no duplicates" + ("" if idle else " (never idle)"))
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000, help="files in the burst")
    args = parser.parse_args()
    return 0 if run(args.files) else 1


if __name__ == "__main__":
    sys.exit(main())
