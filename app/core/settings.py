"""Typed settings, declared in one place, stored in the library database.

`SettingsValues` declares every setting: its name, type, default and help. Callers read
a typed snapshot (`Settings.read()`, one query) instead of asking for keys by string, so
a typo or a wrong type is caught where the value is used, not at run time.

A stored value that cannot be read (wrong type after a hand edit, an enum value this
version does not know) is not silently ignored on every read: it is reported once
(the log and `Settings.problems()`, which the activity panel shows), then replaced by
the default in the database, so the next read finds nothing to report.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.sqlite import insert

from app.core.storage.db import Database
from app.core.storage.schema import Setting

log = logging.getLogger(__name__)


class MetadataWrite(StrEnum):
    """Where captions and tags are written as XMP. A str, so it compares, prints and
    stores (JSON) as the plain word the settings table has always held."""

    OFF = "off"
    SIDECAR = "sidecar"  # NAME.EXT.xmp beside the file
    EMBED = "embed"  # into JPEG, PNG, WebP and TIFF files; a sidecar for other formats


class GpuOffload(StrEnum):
    """How much of the model llama.cpp puts on the GPU."""

    AUTO = "auto"  # all layers on the GPU if the build can
    CPU = "cpu"
    LAYERS = "layers"  # `gpu_layers` of them


class CaptionBackends(StrEnum):
    """Who captions (issue 13): the in-process engine, the user's inference servers,
    or both as one pool."""

    LOCAL = "local"  # this computer only: the in-process llama.cpp engine
    SERVERS = "servers"  # only the inference servers the user added
    BOTH = "both"  # the engine as one more member of the servers' pool


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True, slots=True)
class SettingsValues:
    """Every setting, typed, with its default: the one place settings are declared."""

    auto_caption: bool = field(
        default=True, metadata=_help("Queue a caption job for new and changed files.")
    )
    skip_hidden: bool = field(
        default=True, metadata=_help("Skip hidden and system folders when scanning.")
    )
    keyframes_per_video: int = field(
        default=8, metadata=_help("Most keyframes taken from one video.")
    )
    # A small model writing all of a video's moments in one answer lets the frames bleed
    # into each other (app/core/captioning/moments.py): each keyframe alone is steadier.
    moments_per_keyframe: bool = field(
        default=True,
        metadata=_help("Caption each video keyframe on its own for its moment (slower)."),
    )
    rescan_interval_s: float = field(
        default=300.0,
        metadata=_help("Seconds between rescans of folders that cannot be watched."),
    )
    metadata_write: MetadataWrite = field(
        default=MetadataWrite.SIDECAR,
        metadata=_help("Write captions and tags as XMP: off, in a sidecar, or embedded."),
    )
    metadata_import: bool = field(
        default=True,
        metadata=_help("Read captions and keywords other apps wrote (XMP, IPTC, EXIF)."),
    )
    # -- captioning -------------------------------------------------------------------
    queue_paused: bool = field(
        default=False, metadata=_help("Captioning paused by the user (survives restarts).")
    )
    active_model: str = field(
        default="", metadata=_help("Catalog id of the model used for captions.")
    )
    custom_model_path: str = field(
        default="", metadata=_help("A local GGUF model used instead of the catalog.")
    )
    custom_mmproj_path: str = field(
        default="", metadata=_help("The vision projector (mmproj) of the custom model.")
    )
    caption_backends: CaptionBackends = field(
        default=CaptionBackends.LOCAL,
        metadata=_help("Who captions: this computer ('local'), the servers, or both."),
    )
    gpu_offload: GpuOffload = field(
        default=GpuOffload.AUTO, metadata=_help("How much of the model goes to the GPU.")
    )
    gpu_layers: int = field(
        default=0, metadata=_help("Layers on the GPU when gpu_offload is 'layers'.")
    )
    prompt_id: str = field(default="short", metadata=_help("Prompt used for new captions."))
    prompt_overrides: dict[str, str] = field(
        default_factory=dict, metadata=_help("User-edited prompt texts, by prompt id.")
    )
    caption_language: str = field(
        default="English", metadata=_help("Language captions are written in.")
    )
    include_exif_context: bool = field(
        default=True, metadata=_help("Tell the model the date and camera.")
    )
    temperature: float = field(default=0.7, metadata=_help("Sampling temperature."))
    top_p: float = field(default=0.9, metadata=_help("Nucleus sampling."))
    # Mild, as Qwen2-VL ships it: an answer repeats itself by design (a video's moments
    # of one scene say the same, tags echo the caption). With 1.2 the shapes-world model
    # got 0.59 of 178 video moments right, with 1.05 0.74 (tests/fixtures/models/README).
    repeat_penalty: float = field(default=1.05, metadata=_help("Penalty for repeating words."))
    max_caption_tokens: int = field(
        default=128, metadata=_help("Longest caption, in tokens (about 4 letters each).")
    )
    model_image_side: int = field(
        default=768, metadata=_help("Longest side of the picture handed to the model.")
    )
    # -- inference servers (issue 13; app/core/servers/registry.py reads and writes them)
    inference_servers: list[dict[str, Any]] = field(
        default_factory=list,
        metadata=_help("The user's inference servers (never their API keys: the keychain)."),
    )
    # -- search by meaning (issue 14; app/core/semantic) ---------------------------------
    embedding_model: str = field(
        default="",
        metadata=_help(
            "Text-embedding model for search by meaning: a catalog id, a GGUF path, "
            "'off', or '' for the default model once it is installed."
        ),
    )
    fusion_keyword_weight: float = field(
        default=1.0, metadata=_help("Hybrid search: weight of the keyword ranking.")
    )
    fusion_semantic_weight: float = field(
        default=1.0, metadata=_help("Hybrid search: weight of the meaning ranking.")
    )
    fusion_phrase_weight: float = field(
        default=1.0, metadata=_help("Hybrid search: bonus for the typed words as one phrase.")
    )


DEFAULTS = SettingsValues()


@cache
def setting_types() -> dict[str, Any]:
    """Each setting's declared type, by name (the annotations resolved once)."""
    hints = typing.get_type_hints(SettingsValues)
    return {f.name: hints[f.name] for f in fields(SettingsValues)}


def setting_names() -> tuple[str, ...]:
    return tuple(setting_types())


def convert(key: str, value: Any) -> Any:
    """`value` as setting `key`'s declared type. Raises KeyError for an unknown setting,
    TypeError for a value of the wrong type and ValueError for an enum value this
    version does not know. An int where a float is declared is accepted."""
    kind = setting_types()[key]
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        if not isinstance(value, str):
            raise TypeError(f"setting {key!r} takes one of {_choices(kind)}")
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"setting {key!r} takes one of {_choices(kind)}") from None
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif typing.get_origin(kind) is dict:
        key_type, value_type = typing.get_args(kind)
        if isinstance(value, dict) and all(
            isinstance(k, key_type) and isinstance(v, value_type) for k, v in value.items()
        ):
            return dict(value)
    elif typing.get_origin(kind) is list:
        # Only list[dict[str, Any]] is declared (inference_servers): a list of JSON objects,
        # each checked field by field where it is used (app/core/servers/registry.py).
        if isinstance(value, list) and all(
            isinstance(entry, dict) and all(isinstance(k, str) for k in entry) for entry in value
        ):
            return [dict(entry) for entry in value]
    elif isinstance(value, kind):
        return value
    raise TypeError(f"setting {key!r} takes {_type_name(kind)}")


def _choices(kind: type[StrEnum]) -> str:
    return ", ".join(repr(member.value) for member in kind)


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


@dataclass(frozen=True, slots=True)
class SettingProblem:
    """A stored value that could not be read and was replaced by the default."""

    key: str
    stored: Any
    reason: str

    @property
    def message(self) -> str:
        default = getattr(DEFAULTS, self.key)
        shown = default.value if isinstance(default, StrEnum) else default
        return (
            f"The setting {self.key!r} held {self.stored!r}, which Captionist cannot use "
            f"({self.reason}); it is back to its default, {shown!r}."
        )


def values_from(stored: Mapping[str, Any]) -> tuple[SettingsValues, list[SettingProblem]]:
    """The typed settings from stored rows (key -> JSON value): a missing or null value
    is the default; an unreadable one is the default plus a problem. Unknown keys
    (the settings version, keys an upgrade step has yet to handle) are ignored."""
    values: dict[str, Any] = {}
    problems: list[SettingProblem] = []
    for key in setting_names():
        raw = stored.get(key)
        if raw is None:
            continue
        try:
            values[key] = convert(key, raw)
        except (TypeError, ValueError) as exc:
            problems.append(SettingProblem(key, raw, str(exc)))
    return SettingsValues(**values), problems


def read_stored(conn: Connection) -> dict[str, Any]:
    return {key: value for key, value in conn.execute(select(Setting.key, Setting.value))}


def forget_unreadable(conn: Connection, problems: list[SettingProblem]) -> None:
    """Replace unreadable values by the default, and log each once: the row goes, so
    the setting reads as its default (and follows the default if a later version
    changes it). A row rewritten since it was read is left alone."""
    for problem in problems:
        current = conn.execute(select(Setting.value).where(Setting.key == problem.key)).scalar()
        if current == problem.stored:
            conn.execute(delete(Setting).where(Setting.key == problem.key))
        log.warning("%s", problem.message)


def store(conn: Connection, key: str, value: Any) -> None:
    stmt = insert(Setting).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


class Settings:
    """Reads and writes the settings of one library database.

    `problems()` lists what this instance found unreadable and replaced (at open, see
    `app.core.settings_upgrade.open_settings`, and on later reads): data the UI shows."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._problems: list[SettingProblem] = []

    def read(self) -> SettingsValues:
        """Every setting in one query: a consistent, typed snapshot."""
        with self._db.read() as conn:
            values, problems = values_from(read_stored(conn))
        if problems:
            with self._db.write() as conn:
                forget_unreadable(conn, problems)
            self.note_problems(problems)
        return values

    def set(self, key: str, value: Any) -> None:
        """Store `value`; KeyError for an unknown setting, TypeError or ValueError for a
        value it cannot take (nothing is stored then)."""
        checked = convert(key, value)
        with self._db.write() as conn:
            store(conn, key, checked)

    def problems(self) -> list[SettingProblem]:
        return list(self._problems)

    def note_problems(self, problems: list[SettingProblem]) -> None:
        self._problems.extend(problems)
