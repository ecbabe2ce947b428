"""What caption metadata costs: importing on scan, and writing XMP per caption.

Run:  .venv/bin/python tests/benchmarks/bench_metadata.py [--files N]

1. Full index (discovery + probe + jobs) of N small distinct JPEGs, a quarter of which
   carry an XMP description (as another app would leave them), with reading metadata
   on and off: taken in turns, best of 3 each, on fresh databases, page cache warm.
2. Writing the current caption of N/4 items: as sidecars, and embedded into the JPEGs
   (Exiv2 rewrites the file; the library records its new size and date), per file,
   beside a plain copy of each file (the I/O floor of rewriting it).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core.library.library import Library  # noqa: E402
from app.core.metadata import xmp  # noqa: E402
from app.core.metadata.write_back import write_metadata  # noqa: E402
from app.core.storage.db import Database  # noqa: E402
from tests.caption_support import store_model_caption  # noqa: E402


def make_photos(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        image = Image.new("RGB", (96, 64), ((i * 7) % 256, (i * 13) % 256, (i * 29) % 256))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=80)
        path = folder / f"sub{i % 20}" / f"photo_{i:05d}.jpg"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(buffer.getvalue())
        if i % 4 == 0:  # what another app left: a description and keywords inside
            xmp.embed(
                path,
                {
                    "Xmp.dc.description": {'lang="x-default"': f"Photo {i}"},
                    "Xmp.dc.subject": ["imported", f"n{i}"],
                },
            )
        paths.append(path)
    return paths


def index_once(folder: Path, database: Path, import_metadata: bool) -> tuple[float, int]:
    database.unlink(missing_ok=True)
    db = Database(database)
    try:
        library = Library(db)
        library.settings.set("metadata_import", import_metadata)
        root = library.add_root(folder)
        started = time.perf_counter()
        report = library.scan(root.id)
        return time.perf_counter() - started, report.imported
    finally:
        db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4000)
    args = parser.parse_args()
    temp = Path(tempfile.mkdtemp(prefix="captionist-metadata-"))
    try:
        photos = make_photos(temp / "photos", args.files)
        index_once(temp / "photos", temp / "warm.db", True)  # warm the page cache
        best = {True: float("inf"), False: float("inf")}
        imported = 0
        for _ in range(3):
            for flag in (False, True):
                took, count = index_once(temp / "photos", temp / "lib.db", flag)
                best[flag] = min(best[flag], took)
                imported = max(imported, count)
        print(f"Full index of {args.files} JPEGs ({imported} with an XMP caption):")
        print(
            f"  metadata import off  {best[False]:7.2f} s  "
            f"({best[False] / args.files * 1e3:.2f} ms/file)"
        )
        print(
            f"  metadata import on   {best[True]:7.2f} s  "
            f"({best[True] / args.files * 1e3:.2f} ms/file)   ratio {best[True] / best[False]:.2f}"
        )

        db = Database(temp / "lib.db")
        try:
            with db.read() as conn:
                ids = [
                    r[0]
                    for r in conn.exec_driver_sql(
                        "SELECT id FROM media_items ORDER BY id LIMIT ?", (args.files // 4,)
                    )
                ]
            for item in ids:
                store_model_caption(
                    db,
                    item,
                    "A benchmark caption with a few words.",
                    ["bench", "mark"],
                    model_id="m",
                    prompt_id="short",
                )
            results = {}
            for mode in ("sidecar", "embed"):
                started = time.perf_counter()
                report = write_metadata(db, ids, mode)
                results[mode] = (time.perf_counter() - started) / len(ids)
                assert not report.errors, report.errors
            with db.read() as conn:
                paths = [
                    Path(r[0].decode())
                    for r in conn.exec_driver_sql(
                        f"SELECT path FROM media_items WHERE id IN ({','.join('?' * len(ids))})",
                        tuple(ids),
                    )
                ]
            started = time.perf_counter()
            for path in paths:
                shutil.copy2(path, path.with_name(path.name + ".copy"))
            copy = (time.perf_counter() - started) / len(paths)
        finally:
            db.close()
        print(f"Writing the caption of {len(ids)} items, per file:")
        print(f"  sidecar   {results['sidecar'] * 1e3:6.2f} ms")
        print(
            f"  embed     {results['embed'] * 1e3:6.2f} ms   "
            f"(plain copy of the file {copy * 1e3:.2f} ms; ratio {results['embed'] / copy:.1f})"
        )
        print(
            f"  photos checked: {len(photos)} made, all rewritten files still decode: "
            f"{all(Image.open(p).size == (96, 64) for p in paths)}"
        )
        return 0
    finally:
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
