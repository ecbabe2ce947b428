"""The settings one caption job runs with, read in a single query.

The worker used to call `Settings.get` a dozen times per job (prompt, language,
sampling, image size, model choice...), each its own read transaction: with a small
model that was several milliseconds per photo, and the prefetch thread's reads held
the GIL while llama.cpp's thread waited for it. One snapshot per job costs one query
and also gives the job a consistent view: a setting changed mid-job applies to the
next job as a whole, never to half of this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.core.settings import SPECS
from app.core.storage.db import Database
from app.core.storage.schema import Setting
from models.prompts import PromptTemplate

_ALL_SETTINGS = select(Setting.key, Setting.value)  # built once: the worker reads it per job


class SettingsSnapshot:
    """Reads like `app.core.settings.Settings` (same defaults, same fallback for a
    stored value of the wrong type), from values taken at one moment."""

    def __init__(self, stored: Mapping[str, Any]) -> None:
        self._stored = dict(stored)

    @classmethod
    def read(cls, db: Database) -> SettingsSnapshot:
        with db.read() as conn:
            rows = conn.execute(_ALL_SETTINGS).all()
        return cls({key: value for key, value in rows})

    def get(self, key: str) -> Any:
        spec = SPECS[key]  # an unknown key is a bug: KeyError, as Settings.get
        value = self._stored.get(key)
        return value if value is not None and spec.accepts(value) else spec.default

    def template(
        self, prompts: Mapping[str, PromptTemplate], prompt_id: str | None = None
    ) -> PromptTemplate:
        """The prompt a caption is asked with: `prompt_id` (a job's own choice, or the
        prompt that made a caption being trained on) or the chosen one, with the user's
        edited text if they edited it. Fine-tuning asks the same way, so an adapter
        learns the prompt the worker sends."""
        base = prompts.get(prompt_id or self.get("prompt_id")) or prompts["short"]
        edited = self.get("prompt_overrides").get(base.id)
        return PromptTemplate(base.id, base.name, edited) if edited else base

    def media_options(self) -> MediaOptions:
        return MediaOptions(
            max_side=self.get("model_image_side"),
            max_keyframes=self.get("keyframes_per_video"),
            with_exif_context=self.get("include_exif_context"),
        )


@dataclass(frozen=True)
class MediaOptions:
    """What `prepare` needs from the settings. A prefetched input made with other
    options (the user changed the image size meanwhile) is prepared again."""

    max_side: int
    max_keyframes: int
    with_exif_context: bool
