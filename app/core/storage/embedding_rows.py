"""Raw reads and writes of caption vectors (migration 0007): the embedding models, the
vectors of index rows, and the queue of rows whose text changed.

Here, not in app.core.semantic, so that raw SQL stays in app/core/storage. A row key
is a search_index rowid: an item id, or minus a keyframe id for a video moment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from app.core.storage.bulk import chunks, marks
from app.core.storage.db import now
from app.core.storage.search_sql import ITEM_OF_ROW
from app.core.storage.states import IN_SEARCH_INDEX

FILLING, READY, RETIRED = "filling", "ready", "retired"


@dataclass(frozen=True, slots=True)
class StoredModel:
    id: int
    model_key: str
    label: str
    path: str  # the GGUF, to embed queries with
    query_prefix: str
    dimension: int
    state: str


@dataclass(frozen=True, slots=True)
class NewVector:
    row_key: int
    text_hash: bytes
    vector: bytes  # float16, normalised
    code: bytes  # packed sign bits


_MODEL_COLUMNS = "id, model_key, label, path, query_prefix, dimension, state"


def _model(row: Sequence[Any]) -> StoredModel:
    id_, key, label, path, prefix, dimension, state = row
    return StoredModel(
        int(id_),
        str(key),
        str(label),
        os.fsdecode(bytes(path)),
        str(prefix),
        int(dimension),
        str(state),
    )


def model_by_key(conn: Connection, model_key: str) -> StoredModel | None:
    row = conn.exec_driver_sql(
        f"SELECT {_MODEL_COLUMNS} FROM embedding_models WHERE model_key = ?", (model_key,)
    ).first()
    return None if row is None else _model(row)


def add_model(
    conn: Connection, model_key: str, label: str, path: str, query_prefix: str, dimension: int
) -> StoredModel:
    conn.exec_driver_sql(
        "INSERT INTO embedding_models(model_key, label, path, query_prefix, dimension, state, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (model_key, label, os.fsencode(path), query_prefix, dimension, FILLING, now()),
    )
    found = model_by_key(conn, model_key)
    assert found is not None
    return found


def ready_model(conn: Connection) -> StoredModel | None:
    """The model searches use: the newest whose vectors cover the library."""
    row = conn.exec_driver_sql(
        f"SELECT {_MODEL_COLUMNS} FROM embedding_models WHERE state = ? ORDER BY id DESC LIMIT 1",
        (READY,),
    ).first()
    return None if row is None else _model(row)


def all_models(conn: Connection) -> list[StoredModel]:
    rows = conn.exec_driver_sql(f"SELECT {_MODEL_COLUMNS} FROM embedding_models ORDER BY id")
    return [_model(row) for row in rows]


def update_source(conn: Connection, model: int, path: str, query_prefix: str) -> None:
    """The same weights found elsewhere (the models folder moved), or a new prefix."""
    conn.exec_driver_sql(
        "UPDATE embedding_models SET path = ?, query_prefix = ? WHERE id = ?",
        (os.fsencode(path), query_prefix, model),
    )


def set_state(conn: Connection, model: int, state: str) -> None:
    conn.exec_driver_sql("UPDATE embedding_models SET state = ? WHERE id = ?", (state, model))


def drop_other_models(conn: Connection, keep: int) -> int:
    """Delete every other model and its vectors (they cascade); how many models went."""
    conn.exec_driver_sql(
        "DELETE FROM embeddings WHERE model IN (SELECT id FROM embedding_models WHERE id != ?)",
        (keep,),
    )
    return conn.exec_driver_sql("DELETE FROM embedding_models WHERE id != ?", (keep,)).rowcount


# -- the queue ------------------------------------------------------------------------
def queue_missing(conn: Connection, model: int) -> int:
    """Queue every captioned index row without a vector of `model` (a backfill, or the
    library under a new model); rows already queued stay as they are."""
    base = conn.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM embedding_pending").scalar()
    return conn.exec_driver_sql(
        """INSERT OR IGNORE INTO embedding_pending(row_key, seq)
           SELECT s.rowid, ? + row_number() OVER (ORDER BY s.rowid DESC) FROM search_index s
           WHERE s.caption != '' AND NOT EXISTS
               (SELECT 1 FROM embeddings e WHERE e.row_key = s.rowid AND e.model = ?)""",
        (base, model),
    ).rowcount


def queue_rows(conn: Connection, row_keys: Sequence[int]) -> None:
    """Queue these rows again (as the triggers do)."""
    if not row_keys:
        return
    base = conn.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM embedding_pending").scalar()
    conn.exec_driver_sql(
        "INSERT OR REPLACE INTO embedding_pending(row_key, seq) VALUES (?, ?)",
        [(key, int(base or 0) + i + 1) for i, key in enumerate(row_keys)],
    )


def pending_batch(conn: Connection, limit: int) -> list[tuple[int, int]]:
    """(row key, seq) of the oldest queued rows."""
    rows = conn.exec_driver_sql(
        "SELECT row_key, seq FROM embedding_pending ORDER BY seq LIMIT ?", (limit,)
    )
    return [(row[0], row[1]) for row in rows]


def pending_count(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT count(*) FROM embedding_pending").scalar() or 0)


def unqueue(conn: Connection, done: Iterable[tuple[int, int]]) -> None:
    """Take rows off the queue, unless they were queued again since (another seq)."""
    pairs = list(done)
    if pairs:
        conn.exec_driver_sql("DELETE FROM embedding_pending WHERE row_key = ? AND seq = ?", pairs)


# -- texts and vectors -------------------------------------------------------------------
def index_texts(conn: Connection, row_keys: Sequence[int]) -> dict[int, tuple[str, str]]:
    """{row key: (caption, tags)} of these index rows that exist."""
    found: dict[int, tuple[str, str]] = {}
    for chunk in chunks(row_keys):
        for row in conn.exec_driver_sql(
            f"SELECT rowid, caption, tags FROM search_index WHERE rowid IN ({marks(chunk)})",
            tuple(chunk),
        ):
            found[row[0]] = (row[1] or "", row[2] or "")
    return found


def stored_hashes(conn: Connection, model: int, row_keys: Sequence[int]) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for chunk in chunks(row_keys):
        for row in conn.exec_driver_sql(
            f"SELECT row_key, text_hash FROM embeddings WHERE model = ? "
            f"AND row_key IN ({marks(chunk)})",
            (model, *chunk),
        ):
            found[row[0]] = row[1]
    return found


def store_vectors(conn: Connection, model: int, vectors: Sequence[NewVector]) -> None:
    """Insert or replace these rows' vectors, each with a new seq."""
    if not vectors:
        return
    top = conn.exec_driver_sql(
        "SELECT coalesce(max(seq), 0) FROM embeddings WHERE model = ?", (model,)
    ).scalar()
    conn.exec_driver_sql(
        """INSERT INTO embeddings(model, row_key, text_hash, vector, code, seq)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT(row_key, model) DO UPDATE SET text_hash = excluded.text_hash,
               vector = excluded.vector, code = excluded.code, seq = excluded.seq""",
        [
            (model, v.row_key, v.text_hash, v.vector, v.code, int(top or 0) + i + 1)
            for i, v in enumerate(vectors)
        ],
    )


def delete_vectors(conn: Connection, row_keys: Sequence[int]) -> None:
    """Forget the vectors of rows that have no caption any more (every model)."""
    for chunk in chunks(row_keys):
        conn.exec_driver_sql(
            f"DELETE FROM embeddings WHERE row_key IN ({marks(chunk)})", tuple(chunk)
        )


def codes_since(conn: Connection, model: int, seq: int) -> list[tuple[int, bytes, int]]:
    """(row key, code, seq) of the model's vectors written after `seq`, in seq order."""
    rows = conn.exec_driver_sql(
        "SELECT row_key, code, seq FROM embeddings WHERE model = ? AND seq > ? ORDER BY seq",
        (model, seq),
    )
    return [(row[0], row[1], row[2]) for row in rows]


def vector_count(conn: Connection, model: int) -> int:
    return int(
        conn.exec_driver_sql("SELECT count(*) FROM embeddings WHERE model = ?", (model,)).scalar()
        or 0
    )


def row_vector(conn: Connection, model: int, row_key: int) -> bytes | None:
    row = conn.exec_driver_sql(
        "SELECT vector FROM embeddings WHERE model = ? AND row_key = ?", (model, row_key)
    ).first()
    return None if row is None else bytes(row[0])


def item_row_keys(conn: Connection, item_id: int) -> list[int]:
    """The index rows of an item: its own, then its moments' in time order."""
    rows = conn.exec_driver_sql(
        """SELECT ? UNION ALL
           SELECT -k.id FROM keyframes k WHERE k.item_id = ?""",
        (item_id, item_id),
    )
    return [row[0] for row in rows]


ITEM_OF_KEY = """(CASE WHEN e.row_key > 0 THEN e.row_key
    ELSE (SELECT k.item_id FROM keyframes k WHERE k.id = -e.row_key) END)"""


def candidate_vectors(
    conn: Connection,
    model: int,
    row_keys: Sequence[int],
    where: str,
    params: Mapping[str, object],
) -> list[tuple[int, int, bytes]]:
    """(row key, item id, vector) of these rows whose item is in the index (a file gone
    missing is not) and that pass the search filters `where` (on m, and on s: the
    index row, joined only when `where` needs it — a lookup in FTS5 per row costs
    as much as the rest of the read)."""
    join_index = "s." in where
    index_join = "JOIN search_index s ON s.rowid = e.row_key" if join_index else ""
    found: list[tuple[int, int, bytes]] = []
    for chunk in chunks(row_keys):
        keys = {f"k{i}": key for i, key in enumerate(chunk)}
        rows = conn.exec_driver_sql(
            f"""SELECT e.row_key, m.id, e.vector FROM embeddings e {index_join}
                JOIN media_items m ON m.id = {ITEM_OF_KEY}
                WHERE e.model = :model AND e.row_key IN ({",".join(":" + k for k in keys)})
                AND {IN_SEARCH_INDEX} {where}""",
            {**params, **keys, "model": model},
        )
        found.extend((row[0], row[1], bytes(row[2])) for row in rows)
    return found


def filtered_vectors(
    conn: Connection, model: int, where: str, params: Mapping[str, object], limit: int
) -> list[tuple[int, int, bytes]]:
    """(row key, item id, vector) of up to `limit` rows passing the filters `where`:
    the exact search when the filters leave too few of the nearest candidates."""
    rows = conn.exec_driver_sql(
        f"""SELECT e.row_key, m.id, e.vector FROM search_index s
            JOIN media_items m ON m.id = {ITEM_OF_ROW}
            JOIN embeddings e ON e.row_key = s.rowid AND e.model = :model
            WHERE 1 {where} LIMIT :limit""",
        {**params, "model": model, "limit": limit},
    )
    return [(row[0], row[1], bytes(row[2])) for row in rows]


def scope_rows(conn: Connection, scope: str) -> list[int]:
    """Index rows matching an FTS5 expression (tag:, folder:, name: terms)."""
    rows = conn.exec_driver_sql(
        "SELECT rowid FROM search_index WHERE search_index MATCH ?", (scope,)
    )
    return [row[0] for row in rows]


def item_filter_rows(conn: Connection, where: str, params: Mapping[str, object]) -> list[int]:
    """Index rows (items and their moments) of the items passing `where` (on m)."""
    rows = conn.exec_driver_sql(
        f"""SELECT m.id FROM media_items m WHERE {IN_SEARCH_INDEX} {where}
            UNION ALL
            SELECT -k.id FROM keyframes k JOIN media_items m ON m.id = k.item_id
            WHERE {IN_SEARCH_INDEX} {where}""",
        params,
    )
    return [row[0] for row in rows]
