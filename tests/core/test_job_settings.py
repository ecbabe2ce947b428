"""The worker's one-query settings snapshot answers exactly as Settings.read does."""

from __future__ import annotations

from sqlalchemy.dialects.sqlite import insert

from app.core.captioning.job_settings import MediaOptions, SettingsSnapshot
from app.core.settings import DEFAULTS, Settings, setting_names
from app.core.storage.db import Database
from app.core.storage.schema import Setting


def _store_raw(db: Database, key: str, value: object) -> None:
    """What an older version or a hand edit may have left: any JSON value."""
    stmt = insert(Setting).values(key=key, value=value)
    with db.write() as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


def test_snapshot_matches_settings_for_every_key(db: Database) -> None:
    settings = Settings(db)
    settings.set("caption_language", "Deutsch")
    settings.set("temperature", 0.1)
    settings.set("prompt_overrides", {"short": "Describe it."})
    settings.set("queue_paused", True)
    _store_raw(db, "max_caption_tokens", "lots")  # wrong type: the default instead
    _store_raw(db, "model_image_side", None)
    _store_raw(db, "top_p", 1)  # an int where a float is declared is accepted

    snapshot = SettingsSnapshot.read(db)

    values = settings.read()
    assert {key: getattr(snapshot, key) for key in setting_names()} == {
        key: getattr(values, key) for key in setting_names()
    }
    assert snapshot.caption_language == "Deutsch"
    assert snapshot.max_caption_tokens == DEFAULTS.max_caption_tokens
    assert snapshot.top_p == 1


def test_snapshot_is_a_moment_not_a_view(db: Database) -> None:
    settings = Settings(db)
    settings.set("model_image_side", 512)
    snapshot = SettingsSnapshot.read(db)

    settings.set("model_image_side", 256)

    assert snapshot.media_options() == MediaOptions(
        max_side=512,
        max_keyframes=DEFAULTS.keyframes_per_video,
        with_exif_context=DEFAULTS.include_exif_context,
    )
    assert SettingsSnapshot.read(db).media_options().max_side == 256
