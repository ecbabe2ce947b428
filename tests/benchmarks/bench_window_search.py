"""The window's search-as-you-type latency with the real query process (issue 14).

Run:  .venv/bin/python tests/benchmarks/bench_window_search.py [--items 2000]
          [--model tests/fixtures/models/embed_bert/model.gguf]

What the gallery does per keystroke pause, off the GUI thread: `Finder.find(text,
limit=5000, as_you_type=True)` with the window's `QueryEmbedderProcess` (a
`captionist embed-queries` child: llama.cpp never loads in the GUI process). Builds a
library of captioned items in a temporary directory, embeds them with `captionist
embed`, then times the first search (which starts the query process and loads the
model) and each later prefix of a typed sentence, split into the query vector's round
trip and the rest. The tiny fixture model (random weights) stands for the pipe and the
process; a 300M model adds its own inference time per query.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.cli.main import main  # noqa: E402
from app.core.datadir import DataDir  # noqa: E402
from app.core.semantic.hybrid import Finder, SearchMode  # noqa: E402
from app.core.semantic.query_embedder import QueryEmbedderProcess  # noqa: E402
from app.core.semantic.vectors import Vector  # noqa: E402
from app.core.storage.db import Database, now  # noqa: E402
from app.core.storage.embedding_rows import StoredModel  # noqa: E402
from app.ui.gallery.browser import MEANING_GAP  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/models/embed_bert/model.gguf"
TYPED = "a puppy running on the sand at dusk"
WORDS = ["red", "blue", "kite", "beach", "dog", "city", "night", "snow", "family", "cat"]


def fill(db: Database, count: int) -> None:
    with db.write() as conn:
        root = conn.exec_driver_sql(
            "INSERT INTO roots (path, added_at) VALUES ('/lib', 0)"
        ).lastrowid
        for n in range(count):
            item = conn.exec_driver_sql(
                """INSERT INTO media_items (root_id, path, name, folder, kind, size, mtime_ns,
                       added_at, state) VALUES (?, ?, ?, 'lib', 'photo', 1, 1, 0, 'ok')""",
                (root, f"/lib/{n}.jpg".encode(), f"{n}.jpg"),
            ).lastrowid
            words = " ".join(WORDS[(n * k) % len(WORDS)] for k in (1, 3, 7))
            conn.exec_driver_sql(
                """INSERT INTO captions (item_id, text, tags, source, model_id, created_at)
                   VALUES (?, ?, '[]', 'model', 'bench', ?)""",
                (item, f"photo {n}: a {words} scene", now()),
            )


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--model", default=str(FIXTURE))
    parser.add_argument(
        "--meaning-limit", type=int, default=200, help="as the window (0: no cap, as before)"
    )
    args = parser.parse_args()
    args.meaning_limit = args.meaning_limit or None
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = DataDir.resolve(Path(tmp) / "data")
        db = Database(data_dir.database)
        fill(db, args.items)
        started = time.perf_counter()
        assert main(["--data-dir", str(data_dir.root), "embed", "--model", args.model]) == 0
        print(f"embedded {args.items:,} captions in {time.perf_counter() - started:.1f} s")
        process = QueryEmbedderProcess()
        embed_ms: list[float] = []

        def timed(model: StoredModel, text: str) -> Vector:
            t = time.perf_counter()
            try:
                return process(model, text)
            finally:
                embed_ms.append((time.perf_counter() - t) * 1000)

        finder = Finder(db, timed)
        prefixes = [TYPED[:n] for n in range(3, len(TYPED) + 1, 3)] + [TYPED]
        rows = []
        try:
            for text in prefixes:
                t = time.perf_counter()
                found = finder.find(
                    text,
                    limit=5000,
                    as_you_type=True,
                    highlight=("«", "»"),
                    meaning_limit=args.meaning_limit,
                    meaning_gap=MEANING_GAP,
                )
                total = (time.perf_counter() - t) * 1000
                assert found.mode == SearchMode.HYBRID, found.notice
                rows.append((text, total, embed_ms[-1], len(found.hits)))
        finally:
            process.close()
            db.close()
    print(f"{'typed':<38} {'search ms':>10} {'of which query vector ms':>25} {'hits':>6}")
    for text, total, embed, hits in rows:
        print(f"{text!r:<38} {total:>10.1f} {embed:>25.1f} {hits:>6}")
    later = [total for _, total, _, _ in rows[1:]]
    later_embed = [embed for _, _, embed, _ in rows[1:]]
    print(
        f"first search (starts the process): {rows[0][1]:.0f} ms; later searches: "
        f"median {statistics.median(later):.1f} ms, max {max(later):.1f} ms "
        f"(query vector median {statistics.median(later_embed):.1f} ms)"
    )


if __name__ == "__main__":
    main_bench()
