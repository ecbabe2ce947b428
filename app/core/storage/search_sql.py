"""The SQL of caption search (app.core.search): FTS5 matches ranked or newest first,
the filters, and the reads that turn index rows into hits.

Here, not in app.core.search, so that raw SQL stays in app/core/storage; the ranking
policy and why each query is shaped as it is are explained in app.core.search. The
text is performance-sensitive (tests/benchmarks/bench_search.py): change it only
with the benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection

from app.core.storage.db import AnyRow
from app.core.storage.states import IN_LIBRARY

# bm25 weights, one per index column: caption, tags, name, folder, then the
# unindexed item_id, keyframe_id, source.
BM25 = "bm25(search_index, 10.0, 6.0, 3.0, 1.0, 0.0, 0.0, 0.0)"
# The item of an index row: rowid > 0 is an item, rowid < 0 a video moment (-keyframe id).
ITEM_OF_ROW = """(CASE WHEN s.rowid > 0 THEN s.rowid
    ELSE (SELECT k.item_id FROM keyframes k WHERE k.id = -s.rowid) END)"""
# The source of an item's current caption: from its index row, if it has one yet.
CURRENT_SOURCE = """coalesce(s.source, (SELECT c.source FROM captions c
    WHERE c.item_id = m.id AND c.keyframe_id IS NULL
    ORDER BY c.source = 'user' DESC, c.id DESC LIMIT 1))"""
EXCLUDED = " AND m.id NOT IN (SELECT item_id FROM search_index WHERE search_index MATCH :exclude)"


def filter_sql(
    params: dict[str, object],
    *,
    kind: str | None,
    after: str | None,
    before: str | None,
    source: str | None,
    source_column: str = "s.source",
) -> str:
    """SQL conditions for the filters, on the item (m) and the caption's source; their
    values go into `params`."""
    sql = ""
    if kind:
        sql += " AND m.kind = :kind"
        params["kind"] = kind
    if after:
        sql += " AND m.taken_at >= :after"
        params["after"] = after
    if before:
        sql += " AND m.taken_at < :before"
        params["before"] = before
    if source:
        sql += f" AND {source_column} = :source"
        params["source"] = source
    return sql


def has_match_after(conn: Connection, match: str, offset: int) -> bool:
    """Is there a match after the first `offset`? Streams rowids, ranks nothing
    (ascending: FTS5 steps through doclists backwards more slowly)."""
    row = conn.exec_driver_sql(
        "SELECT rowid FROM search_index WHERE search_index MATCH ? LIMIT 1 OFFSET ?",
        (match, offset),
    ).first()
    return row is not None


def first_rowids(conn: Connection, match: str, count: int) -> list[int]:
    """The rowids of the first `count` matches, in rowid order (ascending: FTS5 steps
    through doclists backwards more slowly); ranks nothing. As one string: a
    thousand rows through SQLAlchemy cost 0.7 ms, more than FTS5 takes to find them."""
    found = conn.exec_driver_sql(
        "SELECT group_concat(rowid) FROM "
        "(SELECT rowid FROM search_index WHERE search_index MATCH ? LIMIT ?)",
        (match, count),
    ).scalar()
    return list(map(int, found.split(","))) if found else []


def share_of_newest(conn: Connection, match: str, window: int) -> float:
    """The share of the newest `window` index rows (by rowid) that match `match`: an
    estimate of the share of all rows, found without streaming a long doclist."""
    row = conn.exec_driver_sql(
        "SELECT rowid FROM search_index ORDER BY rowid DESC LIMIT 1 OFFSET ?", (window - 1,)
    ).first()
    if row is None:  # a smaller index: all of it
        low, rows = -(2**63), conn.exec_driver_sql("SELECT count(*) FROM search_index").scalar()
    else:
        low, rows = row[0] - 1, window
    hits = conn.exec_driver_sql(
        "SELECT count(*) FROM search_index WHERE search_index MATCH ? AND rowid > ?",
        (match, low),
    ).scalar()
    return (hits or 0) / rows if rows else 0.0


def ranked_item_rows(
    conn: Connection, where: str, params: Mapping[str, object], fetch: int
) -> Sequence[AnyRow]:
    """(rowid, item id, bm25) of the best `fetch` rows matching :match and `where`,
    newer photo first among equals: ranked in SQL, joined with the items."""
    return conn.exec_driver_sql(
        f"""SELECT s.rowid, m.id, {BM25} AS rank FROM search_index s
            JOIN media_items m ON m.id = {ITEM_OF_ROW}
            WHERE search_index MATCH :match {where}
            ORDER BY rank, m.taken_at DESC LIMIT :fetch""",
        {**params, "fetch": fetch},
    ).all()


def ranked_rows(conn: Connection, params: Mapping[str, object], fetch: int) -> Sequence[AnyRow]:
    """(rowid, bm25) of the best `fetch` rows matching :match, without the join."""
    return conn.exec_driver_sql(
        f"""SELECT rowid, {BM25} AS rank FROM search_index
            WHERE search_index MATCH :match ORDER BY rank LIMIT :fetch""",
        {**params, "fetch": fetch},
    ).all()


def newest_rows(conn: Connection, where: str, params: Mapping[str, object]) -> Sequence[AnyRow]:
    """(rowid, item id) of the first :fetch rows matching :match and `where`, newest
    first (rowid descending); the items are joined only when `where` needs them."""
    join = f"JOIN media_items m ON m.id = {ITEM_OF_ROW}" if where else ""
    return conn.exec_driver_sql(
        f"""SELECT s.rowid, {ITEM_OF_ROW} FROM search_index s {join}
            WHERE search_index MATCH :match {where}
            ORDER BY s.rowid DESC LIMIT :fetch""",
        params,
    ).all()


def listed_rows(conn: Connection, where: str, params: Mapping[str, object]) -> Sequence[AnyRow]:
    """(item id, caption) of the first :limit items in the library matching `where`,
    newest photo first; items not in the index yet are listed too."""
    return conn.exec_driver_sql(
        f"""SELECT m.id, s.caption FROM media_items m LEFT JOIN search_index s ON s.rowid = m.id
            WHERE {IN_LIBRARY} {where}
            ORDER BY m.taken_at DESC LIMIT :limit""",
        params,
    ).all()


def items_of_keyframes(conn: Connection, keyframe_ids: Sequence[int]) -> list[tuple[int, int]]:
    """(keyframe id, item id) of these keyframes."""
    marks = ",".join("?" * len(keyframe_ids))
    return [
        (keyframe_id, item_id)
        for keyframe_id, item_id in conn.exec_driver_sql(
            f"SELECT id, item_id FROM keyframes WHERE id IN ({marks})", tuple(keyframe_ids)
        )
    ]


def taken_at(conn: Connection, item_ids: Sequence[int]) -> dict[int, str | None]:
    """{item id: taken_at} of these items."""
    marks = ",".join("?" * len(item_ids))
    return dict(
        conn.exec_driver_sql(
            f"SELECT id, taken_at FROM media_items WHERE id IN ({marks})", tuple(item_ids)
        ).all()
    )


def index_texts(conn: Connection, rowids: Sequence[int]) -> Sequence[AnyRow]:
    """(rowid, caption, tags, name, folder) of these index rows, for snippets."""
    placeholders = ",".join("?" * len(rowids))
    return conn.exec_driver_sql(
        f"SELECT rowid, caption, tags, name, folder FROM search_index "
        f"WHERE rowid IN ({placeholders})",
        tuple(rowids),
    ).all()


def hit_items(conn: Connection, item_ids: Sequence[int]) -> dict[int, AnyRow]:
    """{id: (id, path, name, kind, taken_at)} of these items."""
    marks = ",".join("?" * len(item_ids))
    return {
        row[0]: row
        for row in conn.exec_driver_sql(
            f"SELECT id, path, name, kind, taken_at FROM media_items WHERE id IN ({marks})",
            tuple(item_ids),
        )
    }


def keyframe_times(conn: Connection, keyframe_ids: Sequence[int]) -> dict[int, float]:
    """{keyframe id: timestamp in seconds} of these keyframes."""
    kmarks = ",".join("?" * len(keyframe_ids))
    return dict(
        conn.exec_driver_sql(
            f"SELECT id, timestamp FROM keyframes WHERE id IN ({kmarks})", tuple(keyframe_ids)
        ).all()
    )
