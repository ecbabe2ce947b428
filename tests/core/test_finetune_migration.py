"""Migration 0005: a 0004 library gains the adapters and exclusions tables, keeps its
data, and the database itself refuses two active adapters for one model."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from app.core.captions import CaptionStore
from app.core.storage.db import (
    Database,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from tests.migration_support import downgrade


def _make_0004_library(path: Path) -> None:
    engine = make_engine(path)
    upgrade(engine, path, "0004")
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO roots (path, enabled, added_at) VALUES (?, 1, 0)", (b"/old",))
        conn.execute(
            """INSERT INTO media_items (id, root_id, path, name, folder, kind, size, mtime_ns,
                   added_at, state) VALUES (1, 1, ?, 'clip.mp4', 'old', 'video', 5, 5, 0, 'ok')""",
            (b"/old/clip.mp4",),
        )
        conn.execute("INSERT INTO keyframes (id, item_id, timestamp) VALUES (7, 1, 2.5)")
        conn.execute(
            """INSERT INTO captions (id, item_id, text, tags, source, model_id, prompt_id,
                   created_at) VALUES (1, 1, 'a boat', '[]', 'model', 'm', 'short', 0)"""
        )
        conn.execute(
            """INSERT INTO captions (item_id, text, tags, source, edited_from_id, created_at)
               VALUES (1, 'a red fishing boat', '[]', 'user', 1, 1)"""
        )


def _adapter_row(adapter_id: str, version: int, active: int) -> tuple[object, ...]:
    return (adapter_id, "smolvlm2-256m", version, b"/a.gguf", b"/m.gguf", active)


INSERT_ADAPTER = """INSERT INTO adapters (id, model_id, version, created_at, gguf_path, base_gguf,
    method, settings, corrections_used, heldout_count, active)
    VALUES (?, ?, ?, 0, ?, ?, 'lora', '{}', 4, 1, ?)"""


def test_0004_library_upgrades_keeping_its_corrections(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    _make_0004_library(path)
    db = Database(path)
    try:
        assert current_revision(db.engine) == head_revision()
        assert list((tmp_path / "backups").glob(f"library-*-before-{head_revision()}.db"))
        (pair,) = CaptionStore(db).corrections()
        assert pair.user_caption.text == "a red fishing boat"
        with db.write() as conn:
            conn.exec_driver_sql(INSERT_ADAPTER, _adapter_row("smolvlm2-256m-v1", 1, 1))
            conn.exec_driver_sql(INSERT_ADAPTER, _adapter_row("smolvlm2-256m-v2", 2, 0))
            conn.exec_driver_sql(
                "INSERT INTO finetune_exclusions (item_id, keyframe_id, excluded_at) "
                "VALUES (1, 7, 0)"
            )
        # One active adapter per model, enforced by the database itself.
        with pytest.raises(IntegrityError), db.write() as conn:
            conn.exec_driver_sql("UPDATE adapters SET active = 1 WHERE version = 2")
        # The same version twice for one model is refused too.
        with pytest.raises(IntegrityError), db.write() as conn:
            conn.exec_driver_sql(INSERT_ADAPTER, _adapter_row("other", 2, 0))
        # An exclusion goes with its moment.
        with db.write() as conn:
            conn.exec_driver_sql("DELETE FROM keyframes WHERE id = 7")
            left = conn.exec_driver_sql("SELECT count(*) FROM finetune_exclusions").scalar_one()
        assert left == 0
    finally:
        db.close()


def test_0005_downgrades_to_0004(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    _make_0004_library(path)
    Database(path).close()
    engine = make_engine(path)
    try:
        downgrade(engine, "0004")
        assert current_revision(engine) == "0004"
        with engine.connect() as conn:
            tables = {
                r[0]
                for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")
            }
            captions = conn.exec_driver_sql("SELECT count(*) FROM captions").scalar_one()
        assert "adapters" not in tables and "finetune_exclusions" not in tables
        assert captions == 2
    finally:
        engine.dispose()
