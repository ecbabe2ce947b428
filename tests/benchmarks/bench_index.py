"""Indexing speed against a bare directory walk.

Run:  .venv/bin/python tests/benchmarks/bench_index.py [--quick]

Builds trees of small, valid, distinct JPEGs in a temporary directory and compares
  1. discovery (walk + stat + bulk insert) and the full index (discovery, then the
     probe: header decode, fingerprint, caption jobs) of N new files with a bare
     recursive os.scandir walk + stat of the same tree   (target: discovery <= 3x);
  2. a rescan of an unchanged, already indexed tree of M files with the same bare
     walk                                                   (target: rescan <= 2x).
Every figure is measured in this run. The page cache is warm for both sides: the
files were just written (and synced, so that writeback does not disturb the timings)
and each side gets an untimed warm-up pass. The timed passes of the two sides take
turns (walk, Captionist, walk, Captionist, ...) and the best of each is reported, so
that background noise falls on both alike.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core.library.library import Library, LibraryStatus  # noqa: E402
from app.core.library.reconcile import ScanReport  # noqa: E402
from app.core.library.scanner import Indexer  # noqa: E402
from app.core.storage.db import Database  # noqa: E402

DISCOVERY_TARGET = 3.0  # discovery time / bare walk time
RESCAN_TARGET = 2.0  # unchanged rescan time / bare walk time
YEARS = 10  # top-level folders; the leaf folders are spread below them
REPEATS = 3


# -- the test tree --------------------------------------------------------------------
def base_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 80, 40)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def jpeg_variant(base: bytes, number: int) -> bytes:
    """The base JPEG with a COM segment right after SOI: valid, unique per number, and
    of varied length so that files do not all have the same size (as photos do not)."""
    text = b"captionist benchmark file %09d " % number + b"." * (number * 7919 % 1021)
    return base[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + base[2:]


def build_tree(root: Path, folders: int, per_folder: int) -> int:
    """root/<year>/<year>-<n>/IMG_<n>.jpg: `folders` leaf folders of `per_folder` files."""
    base = base_jpeg()
    number = 0
    for f in range(folders):
        year = 2015 + f % YEARS
        leaf = root / str(year) / f"{year}-{f // YEARS:04d}"
        leaf.mkdir(parents=True)
        for _ in range(per_folder):
            number += 1
            (leaf / f"IMG_{number:07d}.jpg").write_bytes(jpeg_variant(base, number))
    os.sync()  # no writeback of the new files while anything is timed
    return number


# -- the baseline -----------------------------------------------------------------------
def bare_walk(root: bytes) -> int:
    """Recursive os.scandir walk in bytes with a stat of every entry; returns files seen."""
    files = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                entry.stat()
                if entry.is_dir():
                    stack.append(entry.path)
                else:
                    files += 1
    return files


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- Captionist -------------------------------------------------------------------------
class TimedIndexer(Indexer):
    """The app's indexer, noting when discovery hands over to the probe phase."""

    probe_started: float | None = None

    def probe_pending(self, root_ids: Sequence[int], report: ScanReport, **kwargs: object) -> None:
        if self.probe_started is None:
            self.probe_started = time.perf_counter()
        super().probe_pending(root_ids, report, **kwargs)  # type: ignore[arg-type]


def open_library(data: Path) -> tuple[Database, Library, TimedIndexer]:
    db = Database(data / "library.db")
    library = Library(db)
    indexer = TimedIndexer(db, library.settings)
    library.indexer = indexer
    return db, library, indexer


def db_bytes(db: Database) -> tuple[int, int]:
    wal = db.path.with_name(db.path.name + "-wal")
    return db.path.stat().st_size, wal.stat().st_size if wal.exists() else 0


@dataclass
class IndexRun:
    discovery: float  # seconds from the start of the scan to the start of probing
    full: float  # seconds for the whole scan
    report: ScanReport
    status: LibraryStatus
    db_bytes: tuple[int, int]  # database file, WAL


def index_fresh(tree: Path, data: Path) -> IndexRun:
    """Add `tree` to a fresh library and scan it once: discovery and full times."""
    db, library, indexer = open_library(data)
    try:
        root = library.add_root(tree)
        start = time.perf_counter()
        report = library.scan(root.id)
        end = time.perf_counter()
        assert indexer.probe_started is not None
        return IndexRun(
            indexer.probe_started - start, end - start, report, library.status(), db_bytes(db)
        )
    finally:
        db.close()


# -- output -----------------------------------------------------------------------------
def rate(files: int, seconds: float) -> str:
    return f"{files / seconds:>10,.0f}"


def row(label: str, files: int, seconds: float, base: float | None, target: float | None) -> str:
    ratio = f"{seconds / base:6.2f}x" if base else "      -"
    if target is None:
        verdict = ""
    else:
        verdict = f"<= {target:.0f}x  {'MET' if seconds / base <= target else 'NOT MET'}"
    return f"  {label:<38}{seconds:>9.3f}{rate(files, seconds)}  {ratio}  {verdict}".rstrip()


HEADER = f"  {'':<38}{'seconds':>9}{'files/s':>10}  {'vs walk':>7}  target"


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def report_counts(r: ScanReport) -> str:
    return (
        f"new={r.new} changed={r.changed} moved={r.moved} missing={r.missing} "
        f"returned={r.returned} unchanged={r.unchanged} probed={r.probed} errors={len(r.errors)}"
    )


# -- the two benchmarks -----------------------------------------------------------------
def bench_new_files(work: Path, folders: int, per_folder: int) -> None:
    tree = work / "new"
    root = os.fsencode(tree)
    t0 = time.perf_counter()
    files = build_tree(tree, folders, per_folder)
    print(
        f"\n[1] {files:,} new files ({folders} folders x {per_folder}), "
        f"built in {time.perf_counter() - t0:.1f} s"
    )
    assert bare_walk(root) == files  # also the walk's warm-up
    index_fresh(tree, work / "warmup-data")  # Captionist's warm-up (imports, caches)
    walks, runs = [], []
    for i in range(REPEATS):
        walks.append(seconds(lambda: bare_walk(root)))
        runs.append(index_fresh(tree, work / f"data-{i}"))
    walk_s = min(walks)
    disc_s = min(r.discovery for r in runs)
    best = min(runs, key=lambda r: r.full)
    print(f"  best of {REPEATS} after a warm-up; each Captionist run on a fresh data dir")
    print(HEADER)
    print(row("bare os.scandir walk + stat", files, walk_s, None, None))
    print(row("Captionist discovery (walk+stat+insert)", files, disc_s, walk_s, DISCOVERY_TARGET))
    print(row("Captionist full index (+ probe, jobs)", files, best.full, walk_s, None))
    probe_s = best.full - best.discovery
    print(f"  {'  of which probe phase':<38}{probe_s:>9.3f}{rate(files, probe_s)}")
    print(f"  scan report: {report_counts(best.report)}")
    status = best.status
    print(f"  library: items={status.items} queued jobs={status.queued} errors={status.errors}")
    main_b, wal_b = best.db_bytes
    print(f"  database: {mib(main_b)} + WAL {mib(wal_b)} ({(main_b + wal_b) / files:,.0f} B/file)")


def bench_rescan(work: Path, folders: int, per_folder: int) -> None:
    tree = work / "rescan"
    root = os.fsencode(tree)
    t0 = time.perf_counter()
    files = build_tree(tree, folders, per_folder)
    print(
        f"\n[2] unchanged rescan of {files:,} files ({folders} folders x {per_folder}), "
        f"built in {time.perf_counter() - t0:.1f} s"
    )
    rss_before = psutil.Process().memory_info().rss
    first = index_fresh(tree, work / "rescan-data")
    db, library, _ = open_library(work / "rescan-data")
    try:
        root_id = library.roots()[0].id
        assert bare_walk(root) == files  # warm-ups
        library.scan(root_id)
        walks, rescans, reports = [], [], []
        for _ in range(REPEATS):
            walks.append(seconds(lambda: bare_walk(root)))
            rescans.append(seconds(lambda: reports.append(library.scan(root_id))))
        main_b, wal_b = db_bytes(db)
    finally:
        db.close()
    rss_after = psutil.Process().memory_info().rss
    walk_s = min(walks)
    print(f"  best of {REPEATS} after a warm-up (the rescan's warm-up is itself a rescan)")
    print(HEADER)
    print(row("bare os.scandir walk + stat", files, walk_s, None, None))
    print(row("Captionist first full index", files, first.full, walk_s, None))
    print(row("Captionist unchanged rescan", files, min(rescans), walk_s, RESCAN_TARGET))
    dirty = [r for r in reports if r.new or r.changed or r.moved or r.missing]
    verdict = "UNEXPECTED CHANGES" if dirty else "0 new/changed/moved/missing: OK"
    print(f"  rescan report: {report_counts((dirty or reports)[0])} -> {verdict}")
    print(f"  database: {mib(main_b)} + WAL {mib(wal_b)} ({(main_b + wal_b) / files:,.0f} B/file)")
    print(f"  process RSS: {mib(rss_before)} before the first index, {mib(rss_after)} after")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller trees")
    parser.add_argument("--folders", type=int, help="leaf folders of new files (default 200)")
    parser.add_argument("--rescan-folders", type=int, help="leaf folders to rescan (default 1000)")
    parser.add_argument("--per-folder", type=int, default=100, help="files per leaf folder")
    parser.add_argument("--dir", help="where to make the temporary directory (default: system)")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    folders = args.folders or 200 // scale
    rescan_folders = args.rescan_folders or 1000 // scale
    print(
        f"Captionist indexing benchmark — Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, {platform.platform()}"
    )
    with tempfile.TemporaryDirectory(prefix="captionist-bench-", dir=args.dir) as tmp:
        print(f"temporary directory: {tmp}")
        bench_new_files(Path(tmp), folders, args.per_folder)
        bench_rescan(Path(tmp), rescan_folders, args.per_folder)


if __name__ == "__main__":
    main()
