"""Retrieval quality of keyword, semantic and hybrid search: recall@10 and MRR on a set of
captions with paraphrased and translated queries.

Run:  .venv/bin/python tests/benchmarks/bench_search_quality.py [--model PATH.gguf]
          [--query-prefix TEXT] [--document-prefix TEXT] [--double]

A library of 360 captions ("a brown dog running on the beach at sunset", every subject,
place and time of a small world once per colour and action) is embedded with the model
through the app's own path (EmbeddingSync, the vectors in the library, Finder), and
searched with queries whose answer is known: the captions with the query's subject and
place are relevant. Query kinds:
  words        the caption's own words ("dog beach")           keyword search's home
  paraphrase   synonyms ("puppy shore", "hound seaside")        needs meaning
  translated   Dutch, French, German ("hond strand")            needs a multilingual model
Printed per kind and mode: recall@10 (relevant found in the first 10, of at most 10)
and MRR (1 / rank of the first relevant hit).

With the tiny random-weight fixture (the default --model) the numbers mean nothing:
the harness is here so that a real model (EmbeddingGemma, Qwen3-Embedding, …) can be
measured the day one is at hand. `--double` runs the named test double
(tests/semantic/embedder_double.ConceptEmbedderDouble, whose synonym table covers this
world) to show the harness tells modes apart; it is not a model.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core.semantic.hybrid import Finder, SearchMode  # noqa: E402
from app.core.semantic.sync import EmbeddingSync  # noqa: E402
from app.core.storage import embedding_rows as rows  # noqa: E402
from app.core.storage.db import Database  # noqa: E402
from tests.semantic.library_support import add_captioned  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "embed_bert" / "model.gguf"

SUBJECTS = {  # subject: (caption word, paraphrases, translations nl/fr/de)
    "dog": ("dog", ["puppy", "hound"], ["hond", "chien", "Hund"]),
    "cat": ("cat", ["kitten", "tabby"], ["kat", "chat", "Katze"]),
    "car": ("car", ["automobile", "vehicle"], ["auto", "voiture", "Wagen"]),
    "kite": ("kite", ["flying toy", "paper glider"], ["vlieger", "cerf-volant", "Drachen"]),
    "family": ("family", ["relatives", "parents and kids"], ["familie", "famille", "Familie"]),
}
PLACES = {
    "beach": ("beach", ["shore", "seaside"], ["strand", "plage", "Strand"]),
    "city": ("city street", ["town road", "urban avenue"], ["stad", "ville", "Stadt"]),
    "mountain": ("mountain", ["peak", "alps"], ["berg", "montagne", "Berg"]),
    "park": ("park", ["garden", "green lawn"], ["park", "parc", "Park"]),
}
TIMES = ["at sunset", "at night", "in the morning"]
COLOURS = ["brown", "white", "red"]
ACTIONS = ["running", "resting"]


@dataclass(frozen=True)
class Query:
    kind: str
    text: str
    relevant: frozenset[int]


def build(db: Database) -> dict[tuple[str, str], list[int]]:
    """The captions; returns the items of each (subject, place)."""
    combos = list(itertools.product(SUBJECTS, PLACES, TIMES, COLOURS, ACTIONS))
    texts = [
        f"a {colour} {SUBJECTS[subject][0]} {action} in the {PLACES[place][0]} {time_}"
        for subject, place, time_, colour, action in combos
    ]
    with db.write() as conn:
        items = add_captioned(conn, texts)
    by_pair: dict[tuple[str, str], list[int]] = {}
    for (subject, place, *_), item in zip(combos, items, strict=True):
        by_pair.setdefault((subject, place), []).append(item)
    return by_pair


def queries(by_pair: dict[tuple[str, str], list[int]]) -> list[Query]:
    out = []
    for (subject, place), items in by_pair.items():
        relevant = frozenset(items)
        (s_word, s_para, s_trans), (p_word, p_para, p_trans) = SUBJECTS[subject], PLACES[place]
        out.append(Query("words", f"{s_word} {p_word}", relevant))
        out += [
            Query("paraphrase", f"{a} {b}", relevant) for a, b in zip(s_para, p_para, strict=True)
        ]
        out += [
            Query("translated", f"{a} {b}", relevant) for a, b in zip(s_trans, p_trans, strict=True)
        ]
    return out


def scores(found: list[int], relevant: frozenset[int]) -> tuple[float, float]:
    top = found[:10]
    recall = sum(item in relevant for item in top) / min(len(relevant), 10)
    rank = next((i for i, item in enumerate(found, 1) if item in relevant), None)
    return recall, (1 / rank if rank else 0.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(FIXTURE), help="a text-embedding GGUF")
    parser.add_argument("--query-prefix", default="", help="the model's query instruction")
    parser.add_argument("--document-prefix", default="", help="the model's document prefix")
    parser.add_argument(
        "--double", action="store_true", help="the concept-embedder test double, not a model"
    )
    args = parser.parse_args(argv)
    if args.double:
        from tests.semantic.embedder_double import ConceptEmbedderDouble

        embedder = ConceptEmbedderDouble()
        label = "ConceptEmbedderDouble (a TEST DOUBLE with this world's synonyms built in)"
    else:
        from models.embedding import EmbeddingPrompts, TextEmbedder

        embedder = TextEmbedder(
            args.model, prompts=EmbeddingPrompts(args.query_prefix, args.document_prefix)
        )
        label = args.model
    print(f"Captionist search quality — embeddings: {label}")
    if not args.double and Path(args.model) == FIXTURE:
        print("  NOTE: the tiny random-weight fixture: these figures mean nothing about meaning.")
    with tempfile.TemporaryDirectory(prefix="captionist-quality-") as tmp:
        db = Database(Path(tmp) / "library.db")
        try:
            by_pair = build(db)
            started = time.perf_counter()
            EmbeddingSync(db, embedder, "bench").run_until_done()
            took = time.perf_counter() - started
            with db.read() as conn:
                count = rows.vector_count(conn, rows.ready_model(conn).id)  # type: ignore[union-attr]
            print(f"  {count} captions embedded through the app in {took:.1f} s")
            finder = Finder(db, lambda _model, text: embedder.embed_query(text))
            report(finder, queries(by_pair))
        finally:
            db.close()
            close = getattr(embedder, "close", None)
            if close:
                close()


def report(finder: Finder, all_queries: list[Query]) -> None:
    modes = list(SearchMode)
    print(f"\n  {'queries':<22}" + "".join(f"{m.value + ' R@10':>16}{'MRR':>7}" for m in modes))
    for kind in ("words", "paraphrase", "translated"):
        batch = [q for q in all_queries if q.kind == kind]
        cells = []
        for mode in modes:
            results = [
                scores([h.item_id for h in finder.find(q.text, mode=mode).hits], q.relevant)
                for q in batch
            ]
            recall = sum(r for r, _ in results) / len(results)
            mrr = sum(m for _, m in results) / len(results)
            cells.append(f"{recall:>16.2f}{mrr:>7.2f}")
        print(f"  {kind + f' ({len(batch)})':<22}" + "".join(cells))


if __name__ == "__main__":
    main()
