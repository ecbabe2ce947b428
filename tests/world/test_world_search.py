"""Search finds the right photos in the shapes world, through the app's Finder.

- On held-out photos captioned by the world model through the app, keyword search for
  "red triangle" (as a phrase) puts photos with a red triangle first: precision@10 0.991
  on 500 photos in bench_world_search.py (the issue's bound: 0.9); the bound here leaves
  a margin for the smaller sample. A search that ignored the captions would score 0.05.
- On the same photos' true captions, the world text embedder finds "crimson wedge" for
  captions saying "red triangle", and hybrid search beats keyword and meaning alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.semantic.hybrid import Finder
from tests.benchmarks.bench_world_search import (
    WORLD_EMBEDDER,
    captioned_library,
    embedded_finder,
    keyword_precision,
    pair_queries,
    recall_table,
    truth_library,
)

pytestmark = pytest.mark.slow
PHOTOS = 200
# Measured 0.991 at 500 photos (10+ per query); the bound is 0.9.
MODEL_CAPTIONS_PRECISION = 0.8


@pytest.mark.timeout(900)
def test_keyword_search_on_the_models_captions(tmp_path: Path) -> None:
    library = captioned_library(tmp_path, PHOTOS)
    try:
        queries = pair_queries(library, min_relevant=5)
        assert len(queries) >= 20
        precision = keyword_precision(Finder(library.db), queries)
        assert precision["as a phrase"] >= MODEL_CAPTIONS_PRECISION
    finally:
        library.db.close()


def test_meaning_and_hybrid_search_on_true_captions(tmp_path: Path) -> None:
    library = truth_library(tmp_path, PHOTOS)
    try:
        queries = pair_queries(library, min_relevant=5)
        precision = keyword_precision(Finder(library.db), queries)
        assert precision["as a phrase"] >= 0.9
        finder, embedder = embedded_finder(library.db, WORLD_EMBEDDER, "world")
        try:
            table = recall_table(finder, queries)
        finally:
            embedder.close()
        assert table["paraphrased"]["keyword"] == 0.0  # no caption says "crimson wedge"
        assert table["paraphrased"]["semantic"] >= 0.6
        both = table["all"]
        assert both["hybrid"] > max(both["keyword"], both["semantic"]), table
    finally:
        library.db.close()
