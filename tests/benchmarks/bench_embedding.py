"""Caption embedding throughput (issue 14): the app's TextEmbedder against llama-cpp-python's
own `Llama.embed`, side by side in one run.

Run:  .venv/bin/python tests/benchmarks/bench_embedding.py [--model PATH] [--captions 2000]
          [--rounds 5] [--threads 2] [--n-ctx 512]

Both sides load the same GGUF with the same context, batch and thread settings, and embed the
same synthetic captions (`texts_for_bench`, reusable by other benchmarks) into normalised
float32 vectors:

  app      models.embedding.TextEmbedder.embed_documents(texts)  (no prompt prefix)
  library  the same TextEmbedder through the app's whole path: the captions in a library,
           queued by its triggers, embedded by EmbeddingSync in its batches, the vectors
           stored (float16 + sign bits) — what the worker's embedding thread does
  direct   numpy.asarray(Llama(..., embedding=True).embed(texts, normalize=True))

Runs rotate (app, library, direct; then the next order ...) so that warm-up and machine
noise fall on all; the figure per side is the median of its runs. Target: library (the
app's path) >= 0.95x direct. Also printed: the
lowest cosine between the two sides' vectors for the same caption (they should agree).

The default model is the tiny random-weight BERT fixture (tests/fixtures/models/embed_bert):
its vectors mean nothing and its compute is so small that these figures weigh the Python
around llama.cpp (tokenising, filling the batch, reading vectors) far more than a real
model's would. Give --model a real embedding GGUF to measure that.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from app.core.semantic.sync import EmbeddingSync  # noqa: E402
from app.core.semantic.vectors import from_blob  # noqa: E402
from app.core.storage.db import Database  # noqa: E402
from models.embedding import TextEmbedder  # noqa: E402
from tests.semantic.library_support import add_captioned  # noqa: E402

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "fixtures/models/embed_bert/model.gguf"

SUBJECTS = [
    "a dog", "two children", "an old man", "a woman in a red coat", "a cat", "a group of friends",
    "a cyclist", "a small boat", "a horse", "a bride and groom", "a street musician", "a toddler",
]  # fmt: skip
ACTIONS = [
    "running along", "sitting on", "walking through", "playing near", "looking out over",
    "standing in front of", "sleeping beside", "laughing at", "crossing", "waiting at",
]  # fmt: skip
PLACES = [
    "the beach", "a snowy mountain path", "a busy market", "the old harbour", "a wheat field",
    "a kitchen table", "the train station", "a city park", "a forest lake", "a narrow alley",
]  # fmt: skip
TIMES = ["at sunset", "in the rain", "on a foggy morning", "at night", "in bright sunlight", ""]
DETAILS = [
    "The light is warm and soft.",
    "Autumn leaves cover the ground.",
    "A red umbrella stands out against the grey sky.",
    "People in the background are blurred.",
    "Het water is kalm en de lucht is blauw.",
    "Im Hintergrund sieht man alte Häuser.",
    "",
]
TAGS = ["dog", "beach", "family", "holiday", "snow", "city", "food", "portrait", "boat", "night"]


def texts_for_bench(n: int, seed: int = 0) -> list[str]:
    """`n` caption-like texts (a sentence, sometimes a detail, then tags), deterministic from
    `seed`: roughly what the app embeds per photo (caption + tags)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        when = rng.choice(TIMES)
        sentence = f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {rng.choice(PLACES)}"
        sentence = (f"{sentence} {when}" if when else sentence).capitalize() + "."
        detail = rng.choice(DETAILS)
        tags = ", ".join(rng.sample(TAGS, rng.randint(1, 5)))
        texts.append(" ".join(part for part in (sentence, detail, f"Tags: {tags}") if part))
    return texts


def timed(run: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    vectors = run()
    return time.perf_counter() - start, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--captions", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from llama_cpp import Llama

    texts = texts_for_bench(args.captions, args.seed)
    threads = args.threads
    app = TextEmbedder(args.model, n_ctx=args.n_ctx, n_threads=threads)
    direct = Llama(
        model_path=str(args.model),
        embedding=True,
        n_ctx=args.n_ctx,
        n_batch=args.n_ctx,
        n_ubatch=args.n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )

    def run_app() -> np.ndarray:
        return app.embed_documents(texts)

    def run_direct() -> np.ndarray:
        return np.asarray(direct.embed(texts, normalize=True), dtype=np.float32)

    workdir = tempfile.TemporaryDirectory(prefix="captionist-embed-bench-")
    db = library_of(texts, Path(workdir.name))

    def run_library() -> np.ndarray:
        with db.write() as conn:  # a library never embedded: every caption queued
            conn.exec_driver_sql("DELETE FROM embedding_models")
        EmbeddingSync(db, app, "bench").run_until_done()
        with db.read() as conn:
            blobs = conn.exec_driver_sql("SELECT vector FROM embeddings ORDER BY row_key")
            return np.stack([from_blob(row[0]) for row in blobs])

    print(f"model     {args.model} ({args.model.stat().st_size / 1e6:.1f} MB), dim {app.dimension}")
    print(f"machine   {platform.machine()}, {os.cpu_count()} CPUs; threads {threads}")
    mean_chars = statistics.mean(len(t) for t in texts)
    print(f"captions  {len(texts)} (mean {mean_chars:.0f} chars), {args.rounds} rounds each\n")
    timed(run_app), timed(run_direct)  # warm-up: first-touch of weights and buffers
    times: dict[str, list[float]] = {"app": [], "library": [], "direct": []}
    vectors: dict[str, np.ndarray] = {}
    sides = {"app": run_app, "library": run_library, "direct": run_direct}
    names = list(sides)
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        order = names[shift:] + names[:shift]
        for side in order:
            seconds, vectors[side] = timed(sides[side])
            times[side].append(seconds)
            print(f"  round {round_index + 1} {side:<6} {len(texts) / seconds:9.0f} captions/s")

    rate = {side: len(texts) / statistics.median(runs) for side, runs in times.items()}
    agreement = float(np.min(np.sum(vectors["app"] * vectors["direct"], axis=1)))
    stored = float(np.min(np.sum(vectors["library"] * vectors["direct"], axis=1)))
    print()
    for side in names:
        print(f"{side:<9} {rate[side]:9.0f} captions/s  (median of {args.rounds})")
    print(f"ratio     {rate['library'] / rate['direct']:.2f}x library/direct (target >= 0.95)")
    print(f"          {rate['app'] / rate['direct']:.2f}x app/direct (the embedder alone)")
    print(f"agreement lowest cosine between app and direct vectors: {agreement:.6f};")
    print(f"          stored (float16) and direct: {stored:.6f}")
    app.close()
    direct.close()
    db.close()
    workdir.cleanup()


def library_of(texts: list[str], folder: Path) -> Database:
    """A library holding these captions, one item each, in row order."""
    db = Database(folder / "library.db")
    with db.write() as conn:
        add_captioned(conn, texts)
    return db


if __name__ == "__main__":
    main()
