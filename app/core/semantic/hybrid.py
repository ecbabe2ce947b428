"""One ranked list from keyword search and search by meaning (issue 14).

A query runs the keyword search (app.core.search: FTS5, its parser and filters) and a
nearest-neighbour search over caption vectors under the same filters, and the two
lists are fused by reciprocal rank fusion: an item scores
    keyword / (k + its keyword rank) + semantic / (k + its meaning rank)
(+ phrase / (k + 1) when its caption holds the typed words as one phrase), the weights
being settings. RRF needs no calibration between bm25 and cosine, which mean nothing
to each other. Each hit says why it matched: `match` is "keyword", "semantic" or
"both"; the snippet highlights the words, or is the caption (or video moment) whose
meaning matched. Video hits collapse to the video, at its best moment.

The query's vector comes from `embed_query`, which in the window is a small embedding
process (app.core.semantic.embedder_client): llama.cpp never loads in the GUI.
Without a ready model, or when the query cannot be embedded, the search is keyword
only and `notice` says why.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Generic, TypeVar

import numpy as np
from sqlalchemy import Connection

from app.core.search import SearchHit, make_hits, search
from app.core.search_query import ParsedQuery, fold, folded_words, parse_query
from app.core.semantic.index import IndexCache, cosine_order
from app.core.semantic.vectors import Vector, from_blob
from app.core.settings import Settings
from app.core.storage import embedding_rows as rows
from app.core.storage.db import Database
from app.core.storage.search_sql import filter_sql

log = logging.getLogger(__name__)
T = TypeVar("T")

KEYWORD, SEMANTIC, BOTH = "keyword", "semantic", "both"
FUSED = "fused"
SNIPPET_WORDS = 24
# Codes re-ranked by cosine in the first round: twice the items wanted (sign bits of
# hundreds of dimensions order neighbours nearly as cosine does; a video's moments
# share its item), at least this many.
FIRST_CANDIDATES = 128
# Filters that reject most candidates make the search look 8x further per round, up to
# this many; if even that leaves too few items, the filters are narrow: the rows passing
# them (at most EXACT_LIMIT) are compared one by one instead.
MOST_CANDIDATES = 16_384
EXACT_LIMIT = 50_000


class SearchMode(StrEnum):
    KEYWORD = "keyword"
    SEMANTIC = "semantic"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class Fusion:
    """Reciprocal rank fusion's weights (Settings → Search, for power users)."""

    keyword: float = 1.0
    semantic: float = 1.0
    phrase: float = 1.0  # the typed words found as one phrase in the caption
    k: int = 60  # the usual RRF constant: how fast rank stops mattering


def fusion_of(db: Database) -> Fusion:
    """The fusion weights the user set (Settings → Search → Advanced)."""
    values = Settings(db).read()
    return Fusion(
        keyword=values.fusion_keyword_weight,
        semantic=values.fusion_semantic_weight,
        phrase=values.fusion_phrase_weight,
    )


class QueryEmbeddingError(Exception):
    """The query could not be embedded (no embedder, it failed): keyword search only."""


# (ready model, query text) -> its normalised vector.
QueryEmbedder = Callable[[rows.StoredModel, str], Vector]


@dataclass(frozen=True)
class Found:
    hits: list[SearchHit]
    mode: SearchMode  # what actually ran
    notice: str = ""  # why meaning was not used, in words for users; "" when it was


@dataclass(frozen=True, slots=True)
class _Near:
    row_key: int
    item_id: int
    similarity: float


class Finder:
    """Hybrid, keyword and meaning search over one library; keeps the vector index."""

    def __init__(
        self, db: Database, embed_query: QueryEmbedder | None = None, fusion: Fusion = Fusion()
    ) -> None:
        self._db = db
        self._embed_query = embed_query
        self.fusion = fusion
        self._indexes = IndexCache()

    # -- queries -----------------------------------------------------------------------
    def find(
        self,
        text: str,
        *,
        mode: SearchMode = SearchMode.HYBRID,
        limit: int = 50,
        as_you_type: bool = False,
        highlight: tuple[str, str] = ("[", "]"),
        meaning_limit: int | None = None,
        meaning_gap: float | None = None,
    ) -> Found:
        """`meaning_limit` caps how many nearest items by meaning join the list (every
        captioned item has *some* similarity: the window lists all keyword hits but only
        the nearest by meaning, which also keeps a search fast in a large library).
        `meaning_gap` keeps only those whose cosine is within that much of the nearest
        one's (a cat query then does not list every photo of the library below the cat)."""

        def keyword(count: int) -> list[SearchHit]:
            return search(self._db, text, limit=count, as_you_type=as_you_type, highlight=highlight)

        query = parse_query(text, as_you_type=as_you_type)
        if mode == SearchMode.KEYWORD or not query.meaning or limit <= 0:
            return Found(keyword(limit), SearchMode.KEYWORD)
        # Both lists as deep as the page: an item past it in one list but high in the
        # other is still found by the other (and deeper lists cost more than they add).
        # The keyword search runs on a thread beside the search by meaning: SQLite and
        # faiss let go of the GIL, so on two cores a hybrid search costs about the slower
        # of the two, not their sum (tests/benchmarks/bench_hybrid.py).
        beside = _Beside(lambda: keyword(limit)) if mode == SearchMode.HYBRID else None
        try:
            return self._meaning_or_hybrid(query, mode, limit, meaning_limit, meaning_gap, beside)
        finally:
            if beside is not None:
                beside.join()

    def _meaning_or_hybrid(
        self,
        query: ParsedQuery,
        mode: SearchMode,
        limit: int,
        meaning_limit: int | None,
        meaning_gap: float | None,
        beside: _Beside[list[SearchHit]] | None,
    ) -> Found:
        def by_keyword() -> list[SearchHit]:
            return beside.result() if beside is not None else []

        with self._db.read() as conn:  # one read transaction: each costs ~0.5 ms
            model = rows.ready_model(conn)
            if model is None:
                return Found(by_keyword(), SearchMode.KEYWORD, self._why_no_meaning())
            try:
                vector = self._query_vector(model, query.meaning)
            except QueryEmbeddingError as exc:
                notice = f"Search by meaning is off: {exc}"
                return Found(by_keyword(), SearchMode.KEYWORD, notice)
            depth = limit if meaning_limit is None else max(0, min(limit, meaning_limit))
            near = _within(self._nearest(conn, model, vector, query, depth), meaning_gap)
            if mode == SearchMode.SEMANTIC:
                return Found(self._meaning_hits(conn, near), SearchMode.SEMANTIC)
            keyword_hits = by_keyword()
            fused = self._fuse(keyword_hits, near, query)[:limit]
            return Found(self._fused_hits(conn, fused, keyword_hits, near), SearchMode.HYBRID)

    def similar(self, item_id: int, *, limit: int = 50, meaning_gap: float | None = None) -> Found:
        """The items whose captions mean the most nearly the same as this one's (with a
        `meaning_gap`, only those within that cosine of the nearest)."""
        with self._db.read() as conn:
            model = rows.ready_model(conn)
            if model is None:
                return Found([], SearchMode.SEMANTIC, self._why_no_meaning())
            vector = next(
                (
                    from_blob(blob)
                    for key in rows.item_row_keys(conn, item_id)
                    if (blob := rows.row_vector(conn, model.id, key)) is not None
                ),
                None,
            )
            if vector is None:
                return Found([], SearchMode.SEMANTIC, "This item has no caption to compare yet.")
            near = self._nearest(conn, model, vector, ParsedQuery(), limit + 1, skip=item_id)
            near = _within(near, meaning_gap)
            return Found(self._meaning_hits(conn, near[:limit]), SearchMode.SEMANTIC)

    def warm_up(self) -> None:
        """Load the vector index now: the first search by meaning in a session reads
        every code from the library (~0.7 s at 100,000 captions, bench_hybrid.py)."""
        with self._db.read() as conn:
            model = rows.ready_model(conn)
            if model is not None:
                self._indexes.current(conn, model)

    # -- meaning -------------------------------------------------------------------------
    def _why_no_meaning(self) -> str:
        with self._db.read() as conn:
            filling = [m for m in rows.all_models(conn) if m.state == rows.FILLING]
            pending = rows.pending_count(conn)
        if filling:
            return (
                f"Search by meaning is getting ready ({pending:,} captions still to read "
                f"with {filling[-1].label}); these are keyword results."
            )
        return (
            "Keyword search only: add an embedding model in Settings → Search to search by meaning."
        )

    def _query_vector(self, model: rows.StoredModel, text: str) -> Vector:
        if self._embed_query is None:
            raise QueryEmbeddingError("no embedding process is running")
        vector = np.asarray(self._embed_query(model, text), dtype=np.float32)
        if vector.shape != (model.dimension,):
            raise QueryEmbeddingError(
                f"the embedding model gave {vector.shape} values, "
                f"the library holds {model.dimension}"
            )
        return vector

    def _nearest(
        self,
        conn: Connection,
        model: rows.StoredModel,
        vector: Vector,
        query: ParsedQuery,
        limit: int,
        skip: int | None = None,
    ) -> list[_Near]:
        """The best row of each of the `limit` items nearest in meaning that pass the
        query's filters. Candidates come from the sign-bit index and are re-ranked by
        cosine. When the filters reject most of the nearest, the search is limited to
        the rows they allow (found by the FTS index for tag:/folder:/name:, by the
        items' indexes for type:/after:/before:), else it looks further out."""
        index = self._indexes.current(conn, model)
        params: dict[str, object] = {}
        where = _filter_sql(query, params)
        count = max(FIRST_CANDIDATES, limit * 2)
        allowed: list[int] | None = None
        while True:
            keys = index.nearest(vector, count, allowed)
            found = rows.candidate_vectors(conn, model.id, keys, where, params)
            best = _best_per_item(vector, found, skip)
            if len(best) >= limit or len(keys) < count:
                return best[:limit]
            if allowed is None and (allowed := _allowed_rows(conn, query)) is not None:
                continue  # the same count again, among the allowed rows only
            if count >= MOST_CANDIDATES and allowed is None:
                exact = rows.filtered_vectors(conn, model.id, where, params, EXACT_LIMIT)
                return _best_per_item(vector, exact, skip)[:limit]
            count *= 8

    def _meaning_hits(self, conn: Connection, near: list[_Near]) -> list[SearchHit]:
        texts = rows.index_texts(conn, [n.row_key for n in near])
        return make_hits(
            conn,
            [
                (n.item_id, n.row_key, n.similarity, _clip(texts.get(n.row_key, ("", ""))[0]))
                for n in near
            ],
            ranked_by=SEMANTIC,
            match=SEMANTIC,
        )

    # -- fusion ----------------------------------------------------------------------------
    def _fuse(
        self, keyword: list[SearchHit], near: list[_Near], query: ParsedQuery
    ) -> list[tuple[int, float, str]]:
        """(item id, fused score, match) in fused order; keyword rank breaks ties."""
        w, k = self.fusion, self.fusion.k
        scores: dict[int, float] = {}
        matched: dict[int, str] = {}
        for rank, hit in enumerate(keyword, 1):
            scores[hit.item_id] = w.keyword / (k + rank)
            matched[hit.item_id] = KEYWORD
        for rank, n in enumerate(near, 1):
            scores[n.item_id] = scores.get(n.item_id, 0.0) + w.semantic / (k + rank)
            matched[n.item_id] = BOTH if n.item_id in matched else SEMANTIC
        phrase = _phrase(query.meaning)
        if phrase and w.phrase:
            for hit in keyword:  # a phrase in the caption is a keyword hit's snippet
                if phrase in " ".join(folded_words(hit.snippet)):
                    scores[hit.item_id] += w.phrase / (k + 1)
        keyword_rank = {hit.item_id: rank for rank, hit in enumerate(keyword)}
        order = sorted(scores, key=lambda i: (-scores[i], keyword_rank.get(i, len(keyword))))
        return [(item_id, scores[item_id], matched[item_id]) for item_id in order]

    def _fused_hits(
        self,
        conn: Connection,
        fused: list[tuple[int, float, str]],
        keyword: list[SearchHit],
        near: list[_Near],
    ) -> list[SearchHit]:
        """Keyword hits keep their highlighted snippet and moment; meaning-only hits
        show the caption or moment that matched."""
        by_item = {hit.item_id: hit for hit in keyword}
        meaning_only = {item_id for item_id, _, match in fused if match == SEMANTIC}
        by_item.update(
            (hit.item_id, hit)
            for hit in self._meaning_hits(conn, [n for n in near if n.item_id in meaning_only])
        )
        return [
            replace(by_item[item_id], score=round(score, 6), ranked_by=FUSED, match=match)
            for item_id, score, match in fused
        ]


class _Beside(Generic[T]):
    """`work` running on a thread of its own, from now until its result is asked for."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="keyword-search", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._work()
        except BaseException as exc:  # raised where the result is asked for
            self._error = exc

    def join(self) -> None:
        self._thread.join()

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def _best_per_item(
    vector: Vector, found: list[tuple[int, int, bytes]], skip: int | None
) -> list[_Near]:
    """The most similar row of each item (a video at its best moment), best first."""
    best: dict[int, _Near] = {}
    for row_key, item_id, similarity in cosine_order(vector, found):
        if item_id != skip:
            best.setdefault(item_id, _Near(row_key, item_id, similarity))
    return list(best.values())


def _allowed_rows(conn: Connection, query: ParsedQuery) -> list[int] | None:
    """The index rows the query's narrowing filters allow, or None when it has none
    that an index can answer (by: and "-word" only narrow a little)."""
    if query.scope:
        return rows.scope_rows(conn, query.scope)
    if query.kind or query.after or query.before:
        params: dict[str, object] = {}
        where = filter_sql(
            params, kind=query.kind, after=query.after, before=query.before, source=None
        )
        return rows.item_filter_rows(conn, where, params)
    return None


def _within(near: list[_Near], gap: float | None) -> list[_Near]:
    """The nearest rows (most similar first) within `gap` of the first's similarity."""
    if gap is None or not near:
        return near
    floor = near[0].similarity - gap
    return [n for n in near if n.similarity >= floor]


def _filter_sql(query: ParsedQuery, params: dict[str, object]) -> str:
    """The keyword search's filters, for candidate rows (s: index row, m: item)."""
    where = filter_sql(
        params, kind=query.kind, after=query.after, before=query.before, source=query.source
    )
    if query.scope:
        where += " AND s.rowid IN (SELECT rowid FROM search_index WHERE search_index MATCH :scope)"
        params["scope"] = query.scope
    if query.unwanted:
        where += " AND s.rowid NOT IN "
        where += "(SELECT rowid FROM search_index WHERE search_index MATCH :unwanted)"
        params["unwanted"] = query.unwanted
    return where


def _phrase(meaning: str) -> str:
    """The typed words as one folded phrase, when there are at least two."""
    words = [fold(word) for word in folded_words(meaning)]
    return " ".join(words) if len(words) >= 2 else ""


def _clip(text: str, words: int = SNIPPET_WORDS) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")
