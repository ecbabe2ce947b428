"""Export of 100,000 captions: to metadata.jsonl and to one .txt per image, against
writing the same bytes directly.

Run:  .venv/bin/python tests/benchmarks/bench_export.py [--items N] [--keep DIR]

A library of N captioned photos is made with direct SQL (tests/gallery_library.py;
every item captioned). Then, timed:
  jsonl  `Export` (whole library, format jsonl) into an empty folder, against
         (a) writing the bytes of the file it made with one write, and
         (b) a direct read of the same rows with one plain SQL query plus the same
             JSON lines written with one write: the work any exporter must do;
  txt    `Export` (format txt, mirrored under an output folder) against creating the
         same files (folders included) with the same bytes with plain open/write.
Target: ratio <= 1.5x against the direct writes. Each figure is the best of --runs
(default 3) runs into fresh folders, the two sides of a ratio alternating; the page
cache is warm (the library was just made), as in use; the file system's dirty pages
are flushed (os.sync) before each run, so one run's write-back does not land in the
next one's time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core.export.formats import Format  # noqa: E402
from app.core.export.run import Export, ExportOptions  # noqa: E402
from app.core.export.selection import Selection  # noqa: E402
from app.core.storage.db import Database  # noqa: E402
from tests.gallery_library import make_library  # noqa: E402

TARGET_RATIO = 1.5


def best_of(runs: int, fresh: Callable[[], Path], work: Callable[[Path], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        where = fresh()
        start = time.perf_counter()
        work(where)
        best = min(best, time.perf_counter() - start)
    return best


def paired(
    runs: int, fresh: Callable[[], Path], a: Callable[[Path], object], b: Callable[[Path], object]
) -> tuple[float, float]:
    """Best of `runs` of each, a and b alternating: on a shared machine the load
    changes over minutes, and back-to-back series would compare different loads."""
    best_a = best_b = float("inf")
    for _ in range(runs):
        best_a = min(best_a, best_of(1, fresh, a))
        best_b = min(best_b, best_of(1, fresh, b))
    return best_a, best_b


def export(db: Database, fmt: Format, out: Path) -> None:
    summary = Export(db, Selection.whole_library(), ExportOptions(format=fmt, out=out)).run()
    assert summary.exported > 0 and not summary.failed and not summary.kept, summary


def direct_jsonl(database: Path, target: Path) -> None:
    """The same JSON lines from one plain SQL query (each item's newest caption)."""
    conn = sqlite3.connect(database)
    lines = []
    folder = target.parent
    for path, text, tags in conn.execute(
        """SELECT m.path, c.text, c.tags FROM media_items m JOIN captions c ON c.item_id = m.id
           ORDER BY m.id"""
    ):
        name = os.path.relpath(os.fsdecode(path), folder)
        line = json.dumps(
            {"file_name": name, "text": text, "tags": json.loads(tags)}, ensure_ascii=False
        )
        lines.append((line + "\n").encode("utf-8", "surrogateescape"))
    conn.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"".join(lines))


def write_files(files: list[tuple[str, bytes]], out: Path) -> None:
    made: set[str] = set()
    for rel, data in files:
        path = os.path.join(out, rel)
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        with open(path, "wb") as f:
            f.write(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="make the library here and keep it")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-export-"))
    data, photos, outs = base / "data", base / "photos", base / "out"
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {args.items} items")
    start = time.perf_counter()
    if not (data / "library.db").exists():
        data.mkdir(parents=True, exist_ok=True)
        make_library(data, photos, args.items, caption_every=1)
    print(f"library made in {time.perf_counter() - start:.1f} s")
    db = Database(data / "library.db")
    counter = iter(range(10**6))

    def fresh() -> Path:
        shutil.rmtree(outs, ignore_errors=True)
        path = outs / f"run{next(counter)}"
        path.mkdir(parents=True)
        os.sync()  # the previous run's dirty pages are not written back during this one
        return path

    try:
        t_jsonl = best_of(1, fresh, lambda out: export(db, Format.JSONL, out))
        body = (next(outs.iterdir()) / "metadata.jsonl").read_bytes()
        t_jsonl, t_direct = paired(
            args.runs,
            fresh,
            lambda out: export(db, Format.JSONL, out),
            lambda out: direct_jsonl(data / "library.db", out / "metadata.jsonl"),
        )
        t_bytes = best_of(args.runs, fresh, lambda out: (out / "metadata.jsonl").write_bytes(body))
        best_of(1, fresh, lambda out: export(db, Format.TXT, out))
        made = next(outs.iterdir())
        files = [(os.path.relpath(p, made), p.read_bytes()) for p in sorted(made.rglob("*.txt"))]
        assert len(files) == args.items, len(files)
        t_txt, t_files = paired(
            args.runs,
            fresh,
            lambda out: export(db, Format.TXT, out),
            lambda out: write_files(files, out),
        )
    finally:
        db.close()
        shutil.rmtree(outs, ignore_errors=True)
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    print(f"\n{'':<34}{'seconds':>10}{'ratio':>9}")
    print(f"{'jsonl: Export':<34}{t_jsonl:>10.3f}")
    print(f"{'jsonl: write the same bytes':<34}{t_bytes:>10.3f}{t_jsonl / t_bytes:>8.1f}x")
    print(f"{'jsonl: plain SQL read + write':<34}{t_direct:>10.3f}{t_jsonl / t_direct:>8.2f}x")
    print(f"{'txt: Export (one file per image)':<34}{t_txt:>10.3f}")
    print(f"{'txt: write the same files':<34}{t_files:>10.3f}{t_txt / t_files:>8.2f}x")
    print(f"\n({len(body) / 1e6:.1f} MB of jsonl; target ratio <= {TARGET_RATIO}x)")
    ok = t_txt / t_files <= TARGET_RATIO and t_jsonl / t_direct <= TARGET_RATIO
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
