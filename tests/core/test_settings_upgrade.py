"""Versioned settings: upgrade steps run once, in order, at open, in one transaction.

No stored setting has changed shape yet, so `UPGRADES` is empty; these tests register
their own steps, the way the first real one will be added."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert

from app.core.library.library import Library
from app.core.settings import MetadataWrite
from app.core.settings_upgrade import (
    UPGRADES,
    VERSION_KEY,
    StoredSettings,
    open_settings,
    upgrade_stored,
)
from app.core.storage.db import Database
from app.core.storage.schema import Setting


def _store_raw(db: Database, key: str, value: object) -> None:
    stmt = insert(Setting).values(key=key, value=value)
    with db.write() as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


def _rows(db: Database) -> dict[str, object]:
    with db.read() as conn:
        return dict(conn.execute(select(Setting.key, Setting.value)).all())


def write_xmp_to_metadata_write(stored: StoredSettings) -> None:
    """An example step: an old bool 'write_xmp' becomes the 'metadata_write' word."""
    if "write_xmp" in stored:
        stored["metadata_write"] = "sidecar" if stored.pop("write_xmp") else "off"


def larger_default_tokens(stored: StoredSettings) -> None:
    """A second step, to check the order: doubles a stored token limit."""
    if isinstance(stored.get("max_caption_tokens"), int):
        stored["max_caption_tokens"] *= 2


STEPS = (write_xmp_to_metadata_write, larger_default_tokens)


def test_the_example_steps_each_take_one_version_up() -> None:
    stored: StoredSettings = {"write_xmp": False, "max_caption_tokens": 50}
    write_xmp_to_metadata_write(stored)
    assert stored == {"metadata_write": "off", "max_caption_tokens": 50}
    larger_default_tokens(stored)
    assert stored == {"metadata_write": "off", "max_caption_tokens": 100}


def test_upgrade_runs_the_steps_not_yet_seen_in_order() -> None:
    fresh: StoredSettings = {"write_xmp": True, "max_caption_tokens": 50}
    upgrade_stored(fresh, STEPS)
    assert fresh == {"metadata_write": "sidecar", "max_caption_tokens": 100, VERSION_KEY: 2}

    halfway: StoredSettings = {VERSION_KEY: 1, "write_xmp": True, "max_caption_tokens": 50}
    upgrade_stored(halfway, STEPS)  # step 0 is behind it: write_xmp stays
    assert halfway == {"write_xmp": True, "max_caption_tokens": 100, VERSION_KEY: 2}


def test_settings_from_a_newer_version_are_left_alone() -> None:
    stored: StoredSettings = {VERSION_KEY: 9, "max_caption_tokens": 50}
    upgrade_stored(stored, STEPS)
    assert stored == {VERSION_KEY: 9, "max_caption_tokens": 50}


def test_open_upgrades_the_library_once(db: Database) -> None:
    _store_raw(db, "write_xmp", False)
    _store_raw(db, "max_caption_tokens", 50)

    settings = open_settings(db, STEPS)
    assert settings.read().metadata_write is MetadataWrite.OFF
    assert settings.read().max_caption_tokens == 100
    assert _rows(db) == {"metadata_write": "off", "max_caption_tokens": 100, VERSION_KEY: 2}

    open_settings(db, STEPS)  # the next open has nothing left to do
    assert _rows(db)["max_caption_tokens"] == 100


def test_a_failing_step_leaves_the_library_as_it_was(db: Database) -> None:
    _store_raw(db, "write_xmp", True)
    _store_raw(db, "max_caption_tokens", "lots")

    def broken(stored: StoredSettings) -> None:
        raise RuntimeError("step failed")

    with pytest.raises(RuntimeError):
        open_settings(db, (write_xmp_to_metadata_write, broken))

    assert _rows(db) == {"write_xmp": True, "max_caption_tokens": "lots"}


def test_the_shipped_upgrades_bring_a_library_to_their_version(db: Database) -> None:
    open_settings(db)
    assert _rows(db)[VERSION_KEY] == len(UPGRADES)


def test_unreadable_values_found_at_open_are_reported_once(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    _store_raw(db, "gpu_offload", "vulkan")
    _store_raw(db, "caption_language", 7)

    with caplog.at_level(logging.WARNING, logger="app.core.settings"):
        first = Library(db)
        second = Library(db)

    assert sorted(p.key for p in first.settings.problems()) == ["caption_language", "gpu_offload"]
    assert second.settings.problems() == []  # replaced at the first open
    assert len(caplog.records) == 2
    assert "gpu_offload" not in _rows(db) and "caption_language" not in _rows(db)
    assert first.settings.read().gpu_offload == "auto"
