"""Caption search over the FTS5 index: one API for the GUI and the CLI.

Ranking is bm25 with the caption weighted over tags, file name and folder, and
the newer photo first among equals. A hit in a video moment's caption carries
that moment's timestamp so the GUI can jump to it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Connection

from app.core.search_query import ParsedQuery, parse_query
from app.core.storage.db import Database

# bm25 weights, one per index column: caption, tags, name, folder, then the
# unindexed item_id, keyframe_id, source.
BM25 = "bm25(search_index, 10.0, 6.0, 3.0, 1.0, 0.0, 0.0, 0.0)"
SNIPPET_WORDS = 12


@dataclass(frozen=True, slots=True)
class SearchHit:
    item_id: int
    path: str
    name: str
    kind: str
    snippet: str
    score: float  # higher is better
    timestamp: float | None  # seconds into the video, for a hit in a moment
    keyframe_id: int | None
    taken_at: str | None


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
    with db.read() as conn:
        if query.match:
            return _ranked(conn, query, limit, highlight)
        return _filtered(conn, query, limit)


def recent(db: Database, *, limit: int = 200) -> list[SearchHit]:
    """The library newest first: what the window lists before anything is typed."""
    with db.read() as conn:
        return _filtered(conn, ParsedQuery(), limit)


def _filters(query: ParsedQuery, params: dict[str, object]) -> str:
    sql = ""
    if query.kind:
        sql += " AND m.kind = :kind"
        params["kind"] = query.kind
    if query.after:
        sql += " AND m.taken_at >= :after"
        params["after"] = query.after
    if query.before:
        sql += " AND m.taken_at < :before"
        params["before"] = query.before
    return sql


def _ranked(
    conn: Connection, query: ParsedQuery, limit: int, highlight: tuple[str, str]
) -> list[SearchHit]:
    params: dict[str, object] = {"match": query.match}
    where = _filters(query, params)
    if query.source:
        where += " AND s.source = :source"
        params["source"] = query.source
    # An item can match in its own row and in several moments: keep its best row.
    fetch = limit * 3
    while True:
        params["fetch"] = fetch
        rows = conn.exec_driver_sql(
            f"""SELECT s.rowid, s.item_id, s.keyframe_id, {BM25} AS rank
                FROM search_index s JOIN media_items m ON m.id = s.item_id
                WHERE search_index MATCH :match {where}
                ORDER BY rank, m.taken_at DESC LIMIT :fetch""",
            params,
        ).all()
        best: dict[int, tuple[int, int | None, float]] = {}
        for rowid, item_id, keyframe_id, rank in rows:
            best.setdefault(item_id, (rowid, keyframe_id, rank))
        if len(best) >= limit or len(rows) < fetch:
            break
        fetch *= 4
    chosen = list(best.items())[:limit]
    snippets = _snippets(conn, query.match or "", [rowid for _, (rowid, _, _) in chosen], highlight)
    return _hits(
        conn, [(item, kf, -rank, snippets.get(rowid, "")) for item, (rowid, kf, rank) in chosen]
    )


def _filtered(conn: Connection, query: ParsedQuery, limit: int) -> list[SearchHit]:
    """Queries with filters or "-words" only: newest first."""
    params: dict[str, object] = {"limit": limit}
    where = _filters(query, params)
    if query.source:
        where += " AND s.source = :source"
        params["source"] = query.source
    if query.exclude:
        where += (
            " AND m.id NOT IN (SELECT item_id FROM search_index WHERE search_index MATCH :exclude)"
        )
        params["exclude"] = query.exclude
    rows = conn.exec_driver_sql(
        f"""SELECT m.id, s.caption FROM media_items m JOIN search_index s ON s.rowid = m.id
            WHERE m.state != 'missing' {where} ORDER BY m.taken_at DESC LIMIT :limit""",
        params,
    ).all()
    return _hits(conn, [(item_id, None, 0.0, _clip(caption)) for item_id, caption in rows])


def _snippets(
    conn: Connection, match: str, rowids: list[int], highlight: tuple[str, str]
) -> dict[int, str]:
    """Snippets only for the rows shown: computing them for every match is slow."""
    if not rowids:
        return {}
    marks = ",".join("?" * len(rowids))
    rows = conn.exec_driver_sql(
        f"""SELECT rowid, snippet(search_index, -1, ?, ?, '…', {SNIPPET_WORDS})
            FROM search_index WHERE search_index MATCH ? AND rowid IN ({marks})""",
        (highlight[0], highlight[1], match, *rowids),
    ).all()
    return dict(rows)


def _hits(conn: Connection, ranked: list[tuple[int, int | None, float, str]]) -> list[SearchHit]:
    if not ranked:
        return []
    item_ids = [r[0] for r in ranked]
    marks = ",".join("?" * len(item_ids))
    items = {
        row[0]: row
        for row in conn.exec_driver_sql(
            f"SELECT id, path, name, kind, taken_at FROM media_items WHERE id IN ({marks})",
            tuple(item_ids),
        )
    }
    keyframe_ids = [r[1] for r in ranked if r[1] is not None]
    times: dict[int, float] = {}
    if keyframe_ids:
        kmarks = ",".join("?" * len(keyframe_ids))
        times = dict(
            conn.exec_driver_sql(
                f"SELECT id, timestamp FROM keyframes WHERE id IN ({kmarks})", tuple(keyframe_ids)
            ).all()
        )
    hits = []
    for item_id, keyframe_id, score, snippet in ranked:
        _, path, name, kind, taken_at = items[item_id]
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
            )
        )
    return hits


def _clip(text: str | None, words: int = SNIPPET_WORDS) -> str:
    parts = (text or "").split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")
