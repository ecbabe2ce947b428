"""Typed settings, declared in one place, stored in the library database.

Each setting has a name, a type and a default here; a stored value of the wrong
type (an older version, a hand edit) falls back to the default instead of crashing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert

from app.core.storage.db import Database
from app.core.storage.schema import Setting


@dataclass(frozen=True)
class SettingSpec:
    default: Any
    help: str

    def accepts(self, value: Any) -> bool:
        expected = type(self.default)
        if expected is float:
            return isinstance(value, int | float) and not isinstance(value, bool)
        return isinstance(value, expected)


SPECS: dict[str, SettingSpec] = {
    "auto_caption": SettingSpec(True, "Queue a caption job for new and changed files."),
    "skip_hidden": SettingSpec(True, "Skip hidden and system folders when scanning."),
    "keyframes_per_video": SettingSpec(8, "Most keyframes taken from one video."),
    "rescan_interval_s": SettingSpec(
        300.0, "Seconds between rescans of folders that cannot be watched."
    ),
    "metadata_write": SettingSpec(
        "sidecar",
        "Write captions and tags as XMP: 'off', 'sidecar' (NAME.EXT.xmp) or 'embed' "
        "(into JPEG, PNG, WebP and TIFF files; a sidecar for other formats).",
    ),
    "metadata_import": SettingSpec(
        True, "Read captions and keywords other apps wrote (XMP, IPTC, EXIF) when indexing."
    ),
    # -- captioning ---------------------------------------------------------------
    "queue_paused": SettingSpec(False, "Captioning paused by the user (survives restarts)."),
    "active_model": SettingSpec("", "Catalog id of the model used for captions."),
    "custom_model_path": SettingSpec("", "A local GGUF model used instead of the catalog."),
    "custom_mmproj_path": SettingSpec("", "The vision projector (mmproj) of the custom model."),
    "gpu_offload": SettingSpec("auto", "auto: all layers on the GPU if possible; cpu; layers."),
    "gpu_layers": SettingSpec(0, "Layers on the GPU when gpu_offload is 'layers'."),
    "prompt_id": SettingSpec("short", "Prompt used for new captions."),
    "prompt_overrides": SettingSpec({}, "User-edited prompt texts, by prompt id."),
    "caption_language": SettingSpec("English", "Language captions are written in."),
    "include_exif_context": SettingSpec(True, "Tell the model the date and camera."),
    "temperature": SettingSpec(0.7, "Sampling temperature."),
    "top_p": SettingSpec(0.9, "Nucleus sampling."),
    "repeat_penalty": SettingSpec(1.2, "Penalty for repeating words."),
    "max_caption_tokens": SettingSpec(128, "Longest caption, in tokens (about 4 letters each)."),
    "model_image_side": SettingSpec(768, "Longest side of the picture handed to the model."),
}


class Settings:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str) -> Any:
        spec = SPECS[key]
        with self._db.read() as conn:
            value = conn.execute(select(Setting.value).where(Setting.key == key)).scalar()
        return value if value is not None and spec.accepts(value) else spec.default

    def set(self, key: str, value: Any) -> None:
        spec = SPECS[key]
        if not spec.accepts(value):
            raise TypeError(f"setting {key!r} takes {type(spec.default).__name__}")
        stmt = insert(Setting).values(key=key, value=value)
        with self._db.write() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
