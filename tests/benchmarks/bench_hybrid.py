"""Hybrid search (keywords + meaning) latency, memory and disk at 100,000 and 1,000,000
captions, with vectors of the catalog models' dimension.

Run:  .venv/bin/python tests/benchmarks/bench_hybrid.py [--quick] [--dimension 768]

Builds a library with bench_search's caption generator (the app's schema, migrations
and triggers), gives every caption a vector (random unit vectors, stored as the app
stores them: float16 + sign bits; random vectors are the hard case for the sign-bit
prefilter, real ones cluster), then times in one run, side by side:
  keyword   app.core.search.search(q, limit=50)            target p99 <= 10 ms
  semantic  Finder.find(q, mode=semantic, limit=50)
  hybrid    Finder.find(q, mode=hybrid, limit=50)           target p99 <= 10 ms at 100k,
                                                            <= 50 ms at 1M
  hybrid + filter (after:, a narrow and a broad date range)
The query vector is given (a fixed function of the query text): embedding the query is
the embedding process's time, printed apart (the tiny fixture through the real
`embed-queries` process; a real model adds its own, see bench_embedding.py). Also:
loading the index (first search after start), its memory, disk per item.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core.search import search  # noqa: E402
from app.core.semantic.hybrid import Finder, SearchMode  # noqa: E402
from app.core.semantic.query_embedder import QueryEmbedderProcess  # noqa: E402
from app.core.storage import embedding_rows as rows  # noqa: E402
from app.core.storage.db import Database  # noqa: E402
from models.embedding import model_identity  # noqa: E402
from tests.benchmarks.bench_search import (  # noqa: E402
    SEED,
    VOCABULARY,
    ZIPF_S,
    Zipf,
    build_library,
    make_vocabulary,
    pct,
    timed,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "embed_bert" / "model.gguf"
CHUNK = 50_000


def add_vectors(db: Database, items: int, dimension: int, seed: int) -> float:
    """A ready model and one vector per item; returns seconds taken."""
    start = time.perf_counter()
    with db.write() as conn:
        model = rows.add_model(conn, "bench-random", "Random vectors", "", "", dimension)
        rows.set_state(conn, model.id, rows.READY)
    rng = np.random.default_rng(seed)
    raw = db.engine.raw_connection()
    try:
        for first in range(1, items + 1, CHUNK):
            count = min(CHUNK, items + 1 - first)
            matrix = rng.standard_normal((count, dimension), dtype=np.float32)
            matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
            halves = matrix.astype("<f2")
            codes = np.packbits(matrix > 0, axis=1)
            raw.executemany(
                "INSERT INTO embeddings(model, row_key, text_hash, vector, code, seq) "
                "VALUES (?, ?, x'00', ?, ?, ?)",
                (
                    (model.id, first + i, halves[i].tobytes(), codes[i].tobytes(), first + i)
                    for i in range(count)
                ),
            )
            raw.commit()
        raw.execute("DELETE FROM embedding_pending")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - start


def query_vector(dimension: int):  # type: ignore[no-untyped-def]
    def embed(_model: rows.StoredModel, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        vector = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
        return vector / np.linalg.norm(vector)

    return embed


def rss() -> int:
    return psutil.Process().memory_info().rss


def disk_per_item(db: Database, items: int) -> tuple[float, float]:
    """Bytes per item of the embeddings table and its indexes, and of the whole file."""
    raw = db.engine.raw_connection()
    try:
        table = raw.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name IN "
            "('embeddings', 'ix_embeddings_model_seq', 'sqlite_autoindex_embeddings_1')"
        ).fetchone()[0]
    except sqlite3.Error:
        table = 0
    finally:
        raw.close()
    return (table or 0) / items, db.path.stat().st_size / items


def run(items: int, dimension: int, queries: int, budget: float, tmp: str) -> dict[str, float]:
    rng = random.Random(SEED)
    zipf = Zipf(make_vocabulary(rng, VOCABULARY), ZIPF_S, rng)
    db = Database(Path(tmp) / f"library-{items}.db")
    try:
        t = time.perf_counter()
        build_library(db, items, zipf)
        built = time.perf_counter() - t
        vectors_s = add_vectors(db, items, dimension, SEED)
        print(
            f"\n{items:,} captions: library built in {built:.0f} s, "
            f"{items:,} vectors of {dimension} dims stored in {vectors_s:.0f} s"
        )
        finder = Finder(db, query_vector(dimension))
        before = rss()
        t = time.perf_counter()
        finder.find("warm", mode=SearchMode.SEMANTIC, limit=50)
        load_s = time.perf_counter() - t
        index_mb = (rss() - before) / 2**20
        print(
            f"  first search by meaning (loads {items:,} sign-bit codes from the library): "
            f"{load_s:.2f} s; process memory +{index_mb:,.0f} MiB "
            f"({index_mb * 2**20 / items:,.0f} B/item)"
        )
        table_b, file_b = disk_per_item(db, items)
        print(f"  disk: vectors {table_b:,.0f} B/item; whole library file {file_b:,.0f} B/item")
        words = [" ".join(zipf.draw(rng.choice((1, 2, 3)))) for _ in range(queries)]
        kinds = {
            "keyword (search)": lambda q: search(db, q, limit=50),
            "semantic": lambda q: finder.find(q, mode=SearchMode.SEMANTIC, limit=50),
            "hybrid": lambda q: finder.find(q, mode=SearchMode.HYBRID, limit=50),
            "hybrid, after:2024-06 (5% of items)": lambda q: finder.find(
                q + " after:2024-06", limit=50
            ),
            "hybrid, after:2010 (75% of items)": lambda q: finder.find(q + " after:2010", limit=50),
        }
        for q in words[:5]:
            for fn in kinds.values():
                fn(q)  # warm caches
        target = 10.0 if items <= 100_000 else 50.0
        print(f"  latency in ms over the same {len(words)} queries (1-3 words; limit 50)")
        print(f"    {'':<40}{'n':>5}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}")
        figures: dict[str, float] = {}
        for label, fn in kinds.items():
            ms = timed(fn, words, budget)
            figures[label] = pct(ms, 99)
            goal = ""
            bound = target if label == "hybrid" else 10.0 if label.startswith("keyword") else 0
            if bound:
                verdict = "MET" if pct(ms, 99) <= bound else "NOT MET"
                goal = f"  target p99 <= {bound:.0f} ms: {verdict}"
            values = "".join(f"{v:>9.2f}" for v in (pct(ms, 50), pct(ms, 90), pct(ms, 99), max(ms)))
            print(f"    {label:<40}{len(ms):>5}{values}{goal}")
        print(
            f"    hybrid / keyword p99: {figures['hybrid'] / figures['keyword (search)']:.2f}x; "
            f"semantic / keyword p99: {figures['semantic'] / figures['keyword (search)']:.2f}x"
        )
        return figures
    finally:
        db.close()


def query_process_latency(n: int = 50) -> None:
    """The window's query path: `captionist embed-queries` (the tiny fixture model)."""
    model = rows.StoredModel(0, model_identity(FIXTURE), "tiny", str(FIXTURE), "", 64, rows.READY)
    process = QueryEmbedderProcess(start_timeout=120)
    try:
        t = time.perf_counter()
        process(model, "first")
        first = (time.perf_counter() - t) * 1000
        ms = timed(lambda q: process(model, q), [f"a red kite number {i}" for i in range(n)])
    finally:
        process.close()
    print(
        f"\nquery embedding through the embed-queries process (tiny fixture, {n} queries): "
        f"first (process start + model load) {first:.0f} ms; then p50 {pct(ms, 50):.2f} ms, "
        f"p99 {pct(ms, 99):.2f} ms (a real model adds its forward pass: bench_embedding.py)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 and 100,000 captions only")
    parser.add_argument(
        "--dimension",
        type=int,
        default=768,
        help="vector size (768: EmbeddingGemma 300M, the default catalog model)",
    )
    parser.add_argument("--queries", type=int, default=200, help="queries per kind")
    parser.add_argument("--budget", type=float, default=40.0, help="seconds per kind at most")
    parser.add_argument("--dir", help="where to make the temporary directory")
    args = parser.parse_args(argv)
    sizes = (20_000, 100_000) if args.quick else (100_000, 1_000_000)
    print(
        f"Captionist hybrid search benchmark — Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}"
    )
    query_process_latency()
    with tempfile.TemporaryDirectory(prefix="captionist-hybrid-", dir=args.dir) as tmp:
        for items in sizes:
            run(items, args.dimension, args.queries, args.budget, tmp)


if __name__ == "__main__":
    main()
