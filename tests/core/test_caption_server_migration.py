"""Migration 0006: captions gain `server` (which inference server made them); a 0005
library keeps its captions (made on this computer: NULL) and its search index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.core.search import search
from app.core.storage.db import (
    Database,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from tests.caption_support import store_model_caption
from tests.migration_support import downgrade


def _make_0005_library(path: Path) -> None:
    engine = make_engine(path)
    upgrade(engine, path, "0005")
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO roots (path, enabled, added_at) VALUES (?, 1, 0)", (b"/old",))
        for item, name in ((1, "boat.jpg"), (2, "kite.jpg")):
            conn.execute(
                """INSERT INTO media_items (id, root_id, path, name, folder, kind, size,
                       mtime_ns, added_at, state)
                   VALUES (?, 1, ?, ?, 'old', 'photo', 5, 5, 0, 'ok')""",
                (item, f"/old/{name}".encode(), name),
            )
        conn.execute(
            """INSERT INTO captions (id, item_id, text, tags, source, model_id, prompt_id,
                   created_at) VALUES (1, 1, 'a boat', '[]', 'model', 'm', 'short', 0)"""
        )


def _servers(db: Database) -> dict[int, str | None]:
    with db.read() as conn:
        return dict(conn.exec_driver_sql("SELECT item_id, server FROM captions").all())


def test_0005_library_upgrades_and_stores_the_server(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    _make_0005_library(path)
    db = Database(path)
    try:
        assert current_revision(db.engine) == head_revision()  # 0006 and every later one
        assert list((tmp_path / "backups").glob("library-*-before-*.db"))
        assert _servers(db) == {1: None}  # made before servers existed: this computer
        store_model_caption(db, 2, "a red kite", server="gpu-box")
        assert _servers(db) == {1: None, 2: "gpu-box"}
        # The search index still follows captions (its triggers survived the change).
        assert [hit.item_id for hit in search(db, "kite")] == [2]
    finally:
        db.close()


def test_0006_downgrades_to_0005(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    _make_0005_library(path)
    Database(path).close()
    engine = make_engine(path)
    try:
        downgrade(engine, "0005")
        assert current_revision(engine) == "0005"
        with engine.connect() as conn:
            columns = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(captions)")}
            captions = conn.exec_driver_sql("SELECT count(*) FROM captions").scalar_one()
        assert "server" not in columns and "adapter_id" in columns
        assert captions == 1
    finally:
        engine.dispose()
