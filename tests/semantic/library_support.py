"""Libraries of captions for the search-by-meaning tests and benchmarks, and the check
that their vectors are in step with their captions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import Connection

from app.core.semantic.vectors import DocumentEmbedder, from_blob, row_text
from app.core.storage import embedding_rows as rows
from app.core.storage.db import Database, now


def add_captioned(conn: Connection, texts: Sequence[str], *, first: int = 0) -> list[int]:
    """One photo per text with that text as its model caption, written in bulk (the
    triggers index and queue them); their item ids, in order."""
    conn.exec_driver_sql(
        "INSERT OR IGNORE INTO roots (path, enabled, added_at) VALUES (?, 1, 0)", (b"/lib",)
    )
    root = conn.exec_driver_sql("SELECT id FROM roots WHERE path = ?", (b"/lib",)).scalar_one()
    items = []
    for n, text in enumerate(texts, first):
        item = conn.exec_driver_sql(
            """INSERT INTO media_items (root_id, path, name, folder, kind, size, mtime_ns,
                   added_at, state) VALUES (?, ?, ?, 'lib', 'photo', 1, 1, 0, 'ok')""",
            (root, f"/lib/{n}.jpg".encode(), f"{n}.jpg"),
        ).lastrowid
        conn.exec_driver_sql(
            """INSERT INTO captions (item_id, text, tags, source, model_id, created_at)
               VALUES (?, ?, '[]', 'model', 'test', ?)""",
            (item, text, now()),
        )
        items.append(int(item or 0))
    return items


def assert_in_step(
    db: Database, embedder: DocumentEmbedder, *, sample: int | None = None, cosine: float = 0.999
) -> None:
    """Every captioned index row has the embedder's vector of its current text under the
    ready model (checked on `sample` rows spread over the library, or all), there is no
    other vector, and nothing is queued."""
    with db.read() as conn:
        model = rows.ready_model(conn)
        assert model is not None and model.model_key == embedder.model_id
        assert rows.pending_count(conn) == 0
        index = conn.exec_driver_sql(
            "SELECT rowid, caption, tags FROM search_index WHERE caption != ''"
        ).all()
        stored = dict(conn.exec_driver_sql("SELECT row_key, vector FROM embeddings").all())
    assert set(stored) == {key for key, _, _ in index}
    checked = index[:: max(1, len(index) // sample)] if sample else index
    expected = embedder.embed_documents([row_text(c, t) for _, c, t in checked])
    for (key, caption, _), vector in zip(checked, expected, strict=True):
        assert float(np.dot(from_blob(stored[key]), vector)) > cosine, (key, caption)
