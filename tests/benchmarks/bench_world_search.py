"""Search, measured in the shapes world: does search find the right photos?

Run:  .venv/bin/python tests/benchmarks/bench_world_search.py [--photos 500]

A library of held-out world photos is captioned by the app (`captionist caption --json`
with the world model: the captions are the model's, right or wrong), then searched
through the app's own search (`app.core.semantic.hybrid.Finder`):
1. keyword precision@10 for "red triangle"-style queries (every colour-shape pair with
   at least 10 photos; relevant: the photo has a shape of that colour): as typed, and
   as a phrase ("\"red triangle\""). Bound: >= 0.9.
2. with the world text embedder (tests/fixtures/models/world_embed, a tiny BERT trained
   contrastively on the world's synonyms, made by make_world_embedder.py) the caption
   vectors are made by the app (EmbeddingSync) and keyword, semantic and hybrid search
   are compared by recall@10 (relevant found in the first 10, of at most 10) on:
     canonical queries   the captions' own words ("red triangle")
     paraphrased queries synonyms ("crimson wedge", "scarlet three-sided shape")
     all                 both sets together: the bound is hybrid > keyword and semantic.
   The random-weight embedder fixture (embed_bert) runs beside it as the baseline.
Both on the model's captions and on the same photos' true captions (search apart from
the captioner's mistakes).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.core.semantic.hybrid import Finder, SearchMode  # noqa: E402
from app.core.storage.db import Database  # noqa: E402
from models.world.truth import PhotoTruth  # noqa: E402
from models.world.vocab import colour_words, shape_words  # noqa: E402
from tests.world_support import WORLD_MODEL, caption_files, write_heldout_photos  # noqa: E402

WORLD_EMBEDDER = ROOT / "tests" / "fixtures" / "models" / "world_embed" / "model.gguf"
RANDOM_EMBEDDER = ROOT / "tests" / "fixtures" / "models" / "embed_bert" / "model.gguf"
MIN_RELEVANT = 10


@dataclass(frozen=True)
class Query:
    text: str
    kind: str  # canonical or paraphrased
    relevant: frozenset[int]


@dataclass
class CaptionedLibrary:
    db: Database
    truth_of: dict[int, PhotoTruth]  # item id -> truth
    caption_seconds: float


def captioned_library(root: Path, photos: int) -> CaptionedLibrary:
    written = write_heldout_photos(root / "photos", photos)
    started = time.monotonic()
    got = caption_files(root / "data", WORLD_MODEL, [p for p, _ in written])
    took = time.monotonic() - started
    failed = [c for c in got if c.error]
    if failed:
        raise AssertionError(f"{len(failed)} photos not captioned: {failed[0].error}")
    db = Database(root / "data" / "library.db")
    with db.read() as conn:
        ids = dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())
    return CaptionedLibrary(db, {ids[p.name]: t for p, t in written}, took)


def truth_library(root: Path, photos: int) -> CaptionedLibrary:
    """The same held-out photos with their true captions (as a user who corrected every
    caption would have): search measured apart from the captioner's mistakes."""
    from models.world.photos import make_photo
    from tests.semantic.library_support import add_captioned
    from tests.world_support import heldout_indexes, world_seed

    seed = world_seed()
    truths = [make_photo(seed, index).truth for index in heldout_indexes("photo", photos, seed)]
    db = Database(root / "truth.db")
    with db.write() as conn:
        ids = add_captioned(conn, [t.caption for t in truths])
    return CaptionedLibrary(db, dict(zip(ids, truths, strict=True)), 0.0)


def pair_queries(
    library: CaptionedLibrary, min_relevant: int = MIN_RELEVANT, seed: int = 0
) -> list[Query]:
    """A canonical and a paraphrased query per colour-shape pair with enough photos."""
    rng = random.Random(seed)
    by_pair: dict[tuple[str, str], set[int]] = {}
    for item, truth in library.truth_of.items():
        for s in truth.shapes:
            by_pair.setdefault((s.colour, s.kind), set()).add(item)
    queries = []
    for (colour, shape), items in sorted(by_pair.items()):
        if len(items) < min_relevant:
            continue
        relevant = frozenset(items)
        queries.append(Query(f"{colour} {shape}", "canonical", relevant))
        paraphrase = f"{rng.choice(colour_words(colour)[1:])} {rng.choice(shape_words(shape)[1:])}"
        queries.append(Query(paraphrase, "paraphrased", relevant))
    return queries


def precision_at_10(found: Sequence[int], relevant: frozenset[int]) -> float:
    """Relevant photos among the first 10 hits, of at most 10 (as many as there are)."""
    return sum(item in relevant for item in found[:10]) / min(10, len(relevant))


recall_at_10 = precision_at_10  # the same count: of at most 10 relevant, how many came first


def keyword_precision(finder: Finder, queries: Sequence[Query]) -> dict[str, float]:
    canonical = [q for q in queries if q.kind == "canonical"]
    figures = {}
    for label, text_of in (
        ("as typed", lambda q: q.text),
        ("as a phrase", lambda q: f'"{q.text}"'),
    ):
        scores = [
            precision_at_10(
                [h.item_id for h in finder.find(text_of(q), mode=SearchMode.KEYWORD).hits],
                q.relevant,
            )
            for q in canonical
        ]
        figures[label] = sum(scores) / len(scores)
    return figures


def recall_table(finder: Finder, queries: Sequence[Query]) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for kind in ("canonical", "paraphrased", "all"):
        batch = [q for q in queries if kind == "all" or q.kind == kind]
        table[kind] = {}
        for mode in SearchMode:
            scores = [
                recall_at_10([h.item_id for h in finder.find(q.text, mode=mode).hits], q.relevant)
                for q in batch
            ]
            table[kind][mode.value] = sum(scores) / len(scores)
    return table


def embedded_finder(db: Database, model: Path, label: str):
    """Caption vectors made by the app's own sync with this model; a Finder on them."""
    from app.core.semantic.sync import EmbeddingSync
    from models.embedding import TextEmbedder

    embedder = TextEmbedder(str(model))
    EmbeddingSync(db, embedder, label).run_until_done()
    return Finder(db, lambda _model, text: embedder.embed_query(text)), embedder


def report(library: CaptionedLibrary, label: str) -> None:
    queries = pair_queries(library)
    print(f"\n== {label}: {len(queries) // 2} colour-shape pairs with >= {MIN_RELEVANT} photos")
    for name, value in keyword_precision(Finder(library.db), queries).items():
        verdict = "met" if value >= 0.9 else "NOT met"
        print(f"  keyword precision@10, {name:12} {value:.3f}   >= 0.90 {verdict}")
    tables = {}
    for name, model in (("world embedder", WORLD_EMBEDDER), ("random", RANDOM_EMBEDDER)):
        finder, embedder = embedded_finder(library.db, model, name)
        try:
            tables[name] = recall_table(finder, queries)
        finally:
            embedder.close()
    print("  recall@10" + " " * 25 + "".join(f"{m.value:>12}" for m in SearchMode))
    for name, table in tables.items():
        for kind, row in table.items():
            cells = "".join(f"{row[m.value]:12.3f}" for m in SearchMode)
            note = ""
            if kind == "all":
                beats = row["hybrid"] > max(row["keyword"], row["semantic"])
                note = "  hybrid beats both" if beats else "  hybrid NOT best"
            print(f"  {name + ', ' + kind:34}{cells}{note}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        library = captioned_library(Path(tmp), args.photos)
        truth = truth_library(Path(tmp), args.photos)
        try:
            print(f"{args.photos} held-out photos captioned by the world model through the app "
                  f"in {library.caption_seconds:.0f} s")  # fmt: skip
            report(library, "the model's captions")
            report(truth, "the true captions")
        finally:
            library.db.close()
            truth.db.close()


if __name__ == "__main__":
    main()
