"""Migration 0007: caption vectors (embedding_models, embeddings, embedding_pending and
the triggers that queue changed captions). A 0006 library keeps everything and gets an
empty queue; from then on a caption queues its row; 0007 downgrades cleanly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.core.storage import embedding_rows as rows
from app.core.storage.db import Database, current_revision, make_engine, upgrade
from tests.caption_support import store_model_caption
from tests.migration_support import downgrade

TABLES = {"embedding_models", "embeddings", "embedding_pending"}


def _make_0006_library(path: Path) -> None:
    engine = make_engine(path)
    upgrade(engine, path, "0006")
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO roots (path, enabled, added_at) VALUES (?, 1, 0)", (b"/old",))
        conn.execute(
            """INSERT INTO media_items (id, root_id, path, name, folder, kind, size, mtime_ns,
                   added_at, state) VALUES (1, 1, ?, 'boat.jpg', 'old', 'photo', 5, 5, 0, 'ok')""",
            (b"/old/boat.jpg",),
        )
        conn.execute(
            """INSERT INTO captions (item_id, text, tags, source, model_id, prompt_id,
                   created_at) VALUES (1, 'a boat', '[]', 'model', 'm', 'short', 0)"""
        )


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}


def test_0006_library_upgrades_and_queues_new_captions(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    _make_0006_library(path)
    db = Database(path)
    try:
        assert current_revision(db.engine) is not None
        assert _tables(path) >= TABLES
        with db.read() as conn:
            assert rows.pending_count(conn) == 0  # old captions wait for a backfill
        store_model_caption(db, 1, "a red boat")
        with db.read() as conn:
            assert rows.pending_batch(conn, 10)[0][0] == 1
    finally:
        db.close()


def test_0007_downgrades_to_0006(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    _make_0006_library(path)
    Database(path).close()
    engine = make_engine(path)
    try:
        downgrade(engine, "0006")
        assert current_revision(engine) == "0006"
    finally:
        engine.dispose()
    names = _tables(path)
    assert not TABLES & names
    assert not {n for n in names if n.startswith("embedding_")}
    with sqlite3.connect(path) as conn:  # a caption still writes (no trigger left behind)
        conn.execute(
            "INSERT INTO captions (item_id, text, tags, source, created_at) "
            "VALUES (1, 'x', '[]', 'user', 0)"
        )
