"""Caption search over the FTS5 index: one API for the GUI and the CLI.

Ranking policy
--------------
* A query matching at most BROAD_QUERY index rows is ranked by bm25, with the
  caption weighted over tags, file name and folder (10, 6, 3, 1); among equal
  scores the newer photo (taken_at) comes first. Hits carry the bm25 score
  (higher is better) and ranked_by = "relevance".
* A broader query is not ranked by bm25. For a word found in most captions its
  IDF is clamped to about zero, so the scores are noise, and computing them costs
  time in proportion to the matches (seconds at a million captions). Its matches
  come newest first instead: by index rowid descending, i.e. the order items were
  added (which FTS5 streams without computing anything; video moments, whose rows
  have negative rowids, come last), with matches in captions or tags before
  matches only in the file name or folder. Such hits have score 0.0 and
  ranked_by = "recency".
* Whether a query is broad is checked without ranking, by reading the rowids of
  its first BROAD_QUERY + 1 matches in rowid order: for a narrow query those are
  all its matches, and the ranking keeps only them.
* A narrow query of several terms is ranked without its "-words" and without the
  terms found in more than COMMON_SHARE of the index rows (estimated on the newest
  rows): bm25 clamps such a term's IDF to about zero, so leaving it out changes no
  score by more than ~1e-5, while computing its IDF streams its whole doclist
  (50-100 ms for the commonest words at a million captions).
Filters (type:, after:, before:, by:) apply in both modes; an item matching in its
own row and in video moments is listed once, at its best row.

Snippets are made in Python from the text of the rows shown (search_query.highlight):
FTS5's snippet() re-ran the query, which cost seconds for short prefixes.

A hit in a video moment's caption carries that moment's timestamp so the GUI can
jump to it. Unprobed items are not in the index yet (migration 0003): the library
list and filter-only queries, which read media_items, still show them.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Connection

from app.core.search_query import (
    ParsedQuery,
    Term,
    could_match,
    find_terms,
    folded_words,
    parse_query,
    render,
)
from app.core.storage.db import Database
from app.core.storage.search_sql import (
    CURRENT_SOURCE,
    EXCLUDED,
    filter_sql,
    first_rowids,
    hit_items,
    index_texts,
    items_of_keyframes,
    keyframe_times,
    listed_rows,
    newest_rows,
    ranked_item_rows,
    ranked_rows,
    share_of_newest,
    taken_at,
)

# More matches than this and a query is listed newest first, not ranked. bm25 costs
# 3-5 µs per match at a million captions (on top of ~3 ms for the rest of a search),
# so this keeps a one-word search within 10 ms there (tests/benchmarks/bench_search.py:
# 1,500 let the slowest narrow words reach 10-16 ms).
BROAD_QUERY = 1000
# bm25 gives a term found in more than half the rows an IDF of about zero (FTS5 clamps
# it to 1e-6), but still streams the term's whole doclist to count them: 50-100 ms for
# the commonest words at a million captions. Ranking leaves such terms out (see
# _ranking_match); whether a term is that common is estimated on the newest
# COMMON_WINDOW index rows.
COMMON_SHARE = 0.5
COMMON_WINDOW = 2000
RELEVANCE = "relevance"
RECENCY = "recency"
SNIPPET_WORDS = 12
SNIPPET_COLUMNS = ("caption", "tags", "name", "folder")


MAX_LIMIT = 2**40  # a larger `limit` means "all": it would overflow SQLite's integers


@dataclass(frozen=True, slots=True)
class SearchHit:
    item_id: int
    path: str
    name: str
    kind: str
    snippet: str
    score: float  # bm25, higher is better; 0.0 when ranked_by is "recency"
    timestamp: float | None  # seconds into the video, for a hit in a moment
    keyframe_id: int | None
    taken_at: str | None
    ranked_by: str = RELEVANCE  # "relevance" (bm25) or "recency" (a broad query)
    # Why it was found: "keyword" (snippet highlights the words), "semantic" (similar
    # meaning: snippet is the caption or moment that matched) or "both" (hybrid search).
    match: str = "keyword"


# One matching index row: (rowid, item id, score).
Match = tuple[int, int, float]


def search(
    db: Database,
    text: str,
    *,
    limit: int = 50,
    as_you_type: bool = False,
    highlight: tuple[str, str] = ("[", "]"),
) -> list[SearchHit]:
    query = parse_query(text, as_you_type=as_you_type)
    if query.is_empty or limit <= 0:
        return []
    limit = min(limit, MAX_LIMIT)  # more than any library holds; SQLite takes 64 bits
    with db.read() as conn:
        if query.match:
            return _matched(conn, query, limit, highlight)
        return _filtered(conn, query, limit)


def recent(db: Database, *, limit: int = 200) -> list[SearchHit]:
    """The library newest first: what the window lists before anything is typed."""
    with db.read() as conn:
        return _filtered(conn, ParsedQuery(), limit)


# -- queries with words ---------------------------------------------------------------
def _matched(
    conn: Connection, query: ParsedQuery, limit: int, marks: tuple[str, str]
) -> list[SearchHit]:
    assert query.match is not None
    # One pass over the matches in rowid order, ranking nothing: more than BROAD_QUERY
    # of them and the query is broad; else these are all its matches.
    found = first_rowids(conn, query.match, BROAD_QUERY + 1)
    if not found:
        return []
    if len(found) > BROAD_QUERY:
        matches, ranked_by = _newest_matches(conn, query, limit), RECENCY
    else:
        matches, ranked_by = _best_matches(conn, query, limit, set(found)), RELEVANCE
    snippets = _snippets(conn, query.terms, [rowid for rowid, _, _ in matches], marks)
    return make_hits(
        conn,
        [(item_id, rowid, score, snippets.get(rowid, "")) for rowid, item_id, score in matches],
        ranked_by,
    )


def _ranking_match(conn: Connection, query: ParsedQuery) -> str:
    """The FTS5 expression to rank a narrow query's matches by: the query without its
    "-words" (they match no row shown, so add nothing to bm25, but cost a scan each)
    and, when it has several groups, without the single terms found in at least
    COMMON_SHARE of the rows (whose IDF bm25 clamps to about zero, so their part
    of every score is ~1e-6: the order stays that of bm25 over the whole query).
    If every term is that common, all stay: their parts are all alike then. (Rows
    told apart only by such ~1e-6 parts, e.g. of a common word in an OR group, may
    come in another order among themselves.)
    The rows it matches are a superset of the query's; the caller keeps the
    query's own."""
    assert query.match is not None
    groups = query.groups
    if len(groups) > 1:
        rare = [g for g in groups if len(g) > 1 or _share(conn, g[0]) < COMMON_SHARE]
        groups = rare or groups
    if not groups:
        return query.match
    return " AND ".join("(" + " OR ".join(g) + ")" for g in groups)


def _share(conn: Connection, term: str) -> float:
    return share_of_newest(conn, term, COMMON_WINDOW)


def _best_matches(conn: Connection, query: ParsedQuery, limit: int, found: set[int]) -> list[Match]:
    """bm25 order, newer photo first among equals, of the rows `found` (every match
    of the query)."""
    ranking = _ranking_match(conn, query)
    params: dict[str, object] = {"match": ranking}
    where = _filters(query, params)
    # Ranked by the query itself, every row ranked is one of `found`; ranked by less,
    # all rows are ranked (in one statement: the rank order costs the same for a few)
    # and those not found dropped.
    every = ranking != query.match

    def joined(fetch: int) -> list[Match]:
        """Ranked in SQL, joined with the items for filters and the tie-break."""
        rows = ranked_item_rows(conn, where, params, MAX_LIMIT if every else fetch)
        return [(rowid, item_id, -rank) for rowid, item_id, rank in rows if rowid in found]

    def ranked_only(fetch: int) -> list[Match]:
        """Ranked in SQL without the join (which cost as much again), the tie-break
        done on the rows fetched: enough rows to hold every row that ties with the
        last one wanted."""
        extra = fetch
        while True:
            ranked = ranked_rows(conn, params, MAX_LIMIT if every else fetch + extra)
            rows = [row for row in ranked if row[0] in found]
            exhausted = every or len(ranked) < fetch + extra
            if exhausted or rows[-1][1] != rows[fetch - 1][1]:
                break
            extra *= 4
        rows = [row for row in rows if row[1] <= rows[min(fetch, len(rows)) - 1][1]]
        items = _items_of_rows(conn, [rowid for rowid, _ in rows])
        matches = [(rowid, items[rowid], -rank) for rowid, rank in rows if rowid in items]
        return _newer_first_among_equals(conn, matches)[:fetch]

    return _first_per_item(joined if where else ranked_only, limit)


def _newer_first_among_equals(conn: Connection, matches: list[Match]) -> list[Match]:
    """Matches in score order, ties broken by taken_at, newest first (unknown
    dates last), as ORDER BY rank, m.taken_at DESC would. Reads the dates of tied
    items only: with real captions ties are rare."""
    scores = Counter(score for _, _, score in matches)
    tied = [item_id for _, item_id, score in matches if scores[score] > 1]
    taken = _taken_at(conn, tied)
    matches = sorted(matches, key=lambda m: taken.get(m[1]) or "", reverse=True)
    return sorted(matches, key=lambda m: -m[2])  # stable: keeps the date order in a tie


def _newest_matches(conn: Connection, query: ParsedQuery, limit: int) -> list[Match]:
    """Newest first (rowid descending): caption and tag matches, then the rest."""
    assert query.match is not None and query.content_match is not None
    passes = [query.content_match]
    if query.content_match != query.match:  # else every match is a content match
        passes.append(f"({query.match}) NOT ({query.content_match})")
    chosen: list[Match] = []
    for match in passes:
        chosen = _first_per_item(partial(_newest_rows, conn, query, match), limit, chosen)
        if len(chosen) >= limit:
            break
    return chosen


def _newest_rows(conn: Connection, query: ParsedQuery, match: str, fetch: int) -> list[Match]:
    """The first `fetch` rows matching `match` and the filters, newest first."""
    params: dict[str, object] = {"match": match, "fetch": fetch}
    where = _filters(query, params)
    rows = newest_rows(conn, where, params)
    return [(rowid, item_id, 0.0) for rowid, item_id in rows]


def _first_per_item(
    fetch_rows: Callable[[int], list[Match]], limit: int, before: Sequence[Match] = ()
) -> list[Match]:
    """The first row of each item, in the order given, after the items `before`,
    up to `limit` items. An item can match in its own row and in several moments,
    so more rows than items are fetched, and more again while items are short."""
    fetch = limit * 3
    while True:
        rows = fetch_rows(fetch)
        best = {match[1]: match for match in before}
        for match in rows:
            best.setdefault(match[1], match)
        if len(best) >= limit or len(rows) < fetch:
            return list(best.values())[:limit]
        fetch *= 4


def _filters(query: ParsedQuery, params: dict[str, object], source: str = "s.source") -> str:
    """SQL conditions for the filters, on the item (m) and the caption's `source`."""
    return filter_sql(
        params,
        kind=query.kind,
        after=query.after,
        before=query.before,
        source=query.source,
        source_column=source,
    )


def _items_of_rows(conn: Connection, rowids: list[int]) -> dict[int, int]:
    """rowid -> item id: rowids > 0 are items, < 0 moments (-keyframe id)."""
    items = {rowid: rowid for rowid in rowids if rowid > 0}
    moments = [-rowid for rowid in rowids if rowid < 0]
    if moments:
        for keyframe_id, item_id in items_of_keyframes(conn, moments):
            items[-keyframe_id] = item_id
    return items


def _taken_at(conn: Connection, item_ids: list[int]) -> dict[int, str | None]:
    if not item_ids:
        return {}
    return taken_at(conn, item_ids)


# -- queries without words --------------------------------------------------------------
def _filtered(conn: Connection, query: ParsedQuery, limit: int) -> list[SearchHit]:
    """Queries with filters or "-words" only, and the plain list: newest first.
    Items not in the index yet (unprobed) are listed too."""
    params: dict[str, object] = {"limit": limit}
    where = _filters(query, params, source=CURRENT_SOURCE)
    if query.exclude:
        where += EXCLUDED
        params["exclude"] = query.exclude
    rows = listed_rows(conn, where, params)
    return make_hits(conn, [(item_id, item_id, 0.0, _clip(caption)) for item_id, caption in rows])


# -- results ------------------------------------------------------------------------------
def _snippets(
    conn: Connection, terms: list[Term], rowids: list[int], marks: tuple[str, str]
) -> dict[int, str]:
    """A snippet per row shown, from the column where most terms match (the caption
    on a tie), highlighted in Python."""
    if not rowids:
        return {}
    return {row[0]: _snippet(row[1:], terms, marks) for row in index_texts(conn, rowids)}


def _snippet(texts: Sequence[str | None], terms: list[Term], marks: tuple[str, str]) -> str:
    """The snippet of the column where most terms match, the earlier one on a tie."""
    best: tuple[str, list[tuple[int, int]]] | None = None
    best_hits = 0
    for column, text in zip(SNIPPET_COLUMNS, texts, strict=True):
        if not text or not could_match(text, terms):
            continue
        per_term = find_terms(folded_words(text), terms, column)
        hits = sum(1 for spans in per_term if spans)
        if hits > best_hits:
            best, best_hits = (text, [span for spans in per_term for span in spans]), hits
        if best_hits == len(terms):
            break  # no later column can do better
    if best is not None:
        return render(best[0], best[1], marks, window=SNIPPET_WORDS)
    # No word recognisably matched (the index stems in ways Python does not copy).
    caption, _tags, name, _folder = texts
    return _clip(caption) or (name or "")


def make_hits(
    conn: Connection,
    found: list[tuple[int, int, float, str]],
    ranked_by: str = RELEVANCE,
    match: str = "keyword",
) -> list[SearchHit]:
    """SearchHits for (item id, index rowid, score, snippet) in order (also the hybrid
    search's, app.core.semantic.hybrid)."""
    if not found:
        return []
    item_ids = [f[0] for f in found]
    items = hit_items(conn, item_ids)
    keyframe_ids = [-rowid for _, rowid, _, _ in found if rowid < 0]
    times: dict[int, float] = {}
    if keyframe_ids:
        times = keyframe_times(conn, keyframe_ids)
    hits = []
    for item_id, rowid, score, snippet in found:
        _, path, name, kind, taken_at = items[item_id]
        keyframe_id = -rowid if rowid < 0 else None
        hits.append(
            SearchHit(
                item_id=item_id,
                path=os.fsdecode(path),
                name=name,
                kind=kind,
                snippet=snippet,
                score=round(score, 4),
                timestamp=times.get(keyframe_id) if keyframe_id else None,
                keyframe_id=keyframe_id,
                taken_at=taken_at,
                ranked_by=ranked_by,
                match=match,
            )
        )
    return hits


def _clip(text: str | None, words: int = SNIPPET_WORDS) -> str:
    parts = (text or "").split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")
