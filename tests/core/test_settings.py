"""Typed settings: every setting reads as its declared type, and a stored value that
cannot be read is reported once, then replaced by the default."""

from __future__ import annotations

import logging
import typing
from enum import StrEnum

import pytest
from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert

from app.core.settings import (
    DEFAULTS,
    CaptionBackends,
    GpuOffload,
    MetadataWrite,
    Settings,
    SettingsValues,
    setting_names,
    setting_types,
)
from app.core.storage.db import Database
from app.core.storage.schema import Setting

# A value of each declared type that differs from every default.
OTHER_VALUE: dict[str, object] = {
    "auto_caption": False,
    "skip_hidden": False,
    "keyframes_per_video": 3,
    "rescan_interval_s": 42.5,
    "metadata_write": MetadataWrite.EMBED,
    "metadata_import": False,
    "queue_paused": True,
    "active_model": "some-model",
    "custom_model_path": "/models/m.gguf",
    "custom_mmproj_path": "/models/mmproj.gguf",
    "gpu_offload": GpuOffload.LAYERS,
    "caption_backends": CaptionBackends.BOTH,
    "gpu_layers": 12,
    "prompt_id": "detailed",
    "prompt_overrides": {"short": "Describe it."},
    "caption_language": "Deutsch",
    "include_exif_context": False,
    "moments_per_keyframe": False,
    "temperature": 0.2,
    "top_p": 0.5,
    "repeat_penalty": 1.3,
    "max_caption_tokens": 64,
    "model_image_side": 512,
    "inference_servers": [{"name": "gpu-box", "url": "http://192.168.1.5:8080"}],
    "embedding_model": "bge-small-en-v1.5",
    "fusion_keyword_weight": 0.5,
    "fusion_semantic_weight": 2.0,
    "fusion_phrase_weight": 0.0,
}


def _store_raw(db: Database, key: str, value: object) -> None:
    """What an older version or a hand edit may have left: any JSON value."""
    stmt = insert(Setting).values(key=key, value=value)
    with db.write() as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


def _raw(db: Database, key: str) -> object:
    with db.read() as conn:
        return conn.execute(select(Setting.value).where(Setting.key == key)).scalar()


def _plain(kind: object) -> type:
    return typing.get_origin(kind) or kind  # dict[str, str] -> dict


def test_every_setting_has_a_test_value() -> None:
    assert set(OTHER_VALUE) == set(setting_names())


@pytest.mark.parametrize("key", setting_names())
def test_a_missing_setting_reads_as_its_typed_default(db: Database, key: str) -> None:
    value = getattr(Settings(db).read(), key)

    assert value == getattr(DEFAULTS, key)
    assert isinstance(value, _plain(setting_types()[key]))


@pytest.mark.parametrize("key", setting_names())
def test_each_setting_round_trips_with_its_type(db: Database, key: str) -> None:
    settings = Settings(db)
    settings.set(key, OTHER_VALUE[key])

    value = getattr(settings.read(), key)

    assert value == OTHER_VALUE[key] and value != getattr(DEFAULTS, key)
    assert isinstance(value, _plain(setting_types()[key]))
    assert settings.problems() == []


def test_enum_settings_take_their_plain_words_and_store_them(db: Database) -> None:
    settings = Settings(db)
    settings.set("metadata_write", "off")
    settings.set("gpu_offload", "cpu")

    values = settings.read()

    assert values.metadata_write is MetadataWrite.OFF and values.gpu_offload is GpuOffload.CPU
    assert _raw(db, "metadata_write") == "off" and _raw(db, "gpu_offload") == "cpu"
    assert all(
        isinstance(kind, type) and issubclass(kind, StrEnum)
        for kind in (setting_types()["metadata_write"], setting_types()["gpu_offload"])
    )


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("auto_caption", "yes", TypeError),
        ("keyframes_per_video", 2.5, TypeError),
        ("keyframes_per_video", True, TypeError),
        ("temperature", "hot", TypeError),
        ("prompt_overrides", {"short": 3}, TypeError),
        ("metadata_write", "xmp", ValueError),
        ("gpu_offload", 1, TypeError),
        ("no_such_setting", 1, KeyError),
    ],
)
def test_set_refuses_what_the_setting_cannot_take(
    db: Database, key: str, value: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        Settings(db).set(key, value)
    assert _raw(db, key) is None


def test_an_int_where_a_float_is_declared_reads_as_a_float(db: Database) -> None:
    _store_raw(db, "top_p", 1)

    value = Settings(db).read().top_p

    assert value == 1.0 and isinstance(value, float)


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("max_caption_tokens", "lots"),  # wrong type
        ("metadata_write", "xmp"),  # an enum value this version does not know
        ("gpu_offload", "vulkan"),
        ("prompt_overrides", ["not", "a", "mapping"]),
        ("inference_servers", ["not", "objects"]),
    ],
)
def test_an_unreadable_value_is_reported_once_and_replaced_by_the_default(
    db: Database, caplog: pytest.LogCaptureFixture, key: str, bad: object
) -> None:
    _store_raw(db, key, bad)
    settings = Settings(db)

    with caplog.at_level(logging.WARNING, logger="app.core.settings"):
        first = settings.read()
        second = settings.read()
        third = Settings(db).read()

    default = getattr(DEFAULTS, key)
    assert getattr(first, key) == getattr(second, key) == getattr(third, key) == default
    assert [(p.key, p.stored) for p in settings.problems()] == [(key, bad)]
    assert repr(bad) in settings.problems()[0].message
    assert len([r for r in caplog.records if key in r.getMessage()]) == 1  # once, not per read
    assert _raw(db, key) is None  # written back: the row is gone, so it reads as the default


def test_a_value_written_after_the_bad_one_was_read_is_kept(db: Database) -> None:
    """The write-back removes only the value that was reported, never a newer one."""
    from app.core.settings import SettingProblem, forget_unreadable

    Settings(db).set("max_caption_tokens", 99)
    with db.write() as conn:
        forget_unreadable(conn, [SettingProblem("max_caption_tokens", "lots", "test")])

    assert Settings(db).read().max_caption_tokens == 99


def test_settings_values_is_frozen() -> None:
    values = SettingsValues()
    with pytest.raises(AttributeError):
        values.auto_caption = False  # type: ignore[misc]
