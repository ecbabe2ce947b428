"""The settings one caption job runs with, read in a single query.

The worker used to read settings one key at a time, a dozen times per job (prompt, language,
sampling, image size, model choice...), each its own read transaction: with a small
model that was several milliseconds per photo, and the prefetch thread's reads held
the GIL while llama.cpp's thread waited for it. One snapshot per job costs one query
and also gives the job a consistent view: a setting changed mid-job applies to the
next job as a whole, never to half of this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from app.core.settings import Settings, SettingsValues
from app.core.storage.db import Database
from models.prompts import AnswerLimits, PromptTemplate

if TYPE_CHECKING:
    from models.runtime import Sampling


@dataclass(frozen=True, slots=True)
class SettingsSnapshot(SettingsValues):
    """The typed settings (`SettingsValues`) taken at one moment, plus what a job
    derives from them."""

    @classmethod
    def read(cls, db: Database) -> SettingsSnapshot:
        return cls.of(Settings(db).read())

    @classmethod
    def of(cls, values: SettingsValues) -> SettingsSnapshot:
        return cls(**{f.name: getattr(values, f.name) for f in fields(values)})

    def template(
        self, prompts: Mapping[str, PromptTemplate], prompt_id: str | None = None
    ) -> PromptTemplate:
        """The prompt a caption is asked with: `prompt_id` (a job's own choice, or the
        prompt that made a caption being trained on) or the chosen one, with the user's
        edited text if they edited it. Fine-tuning asks the same way, so an adapter
        learns the prompt the worker sends."""
        base = prompts.get(prompt_id or self.prompt_id) or prompts["short"]
        edited = self.prompt_overrides.get(base.id)
        return replace(base, instruction=edited) if edited else base

    def media_options(self) -> MediaOptions:
        return MediaOptions(
            max_side=self.model_image_side,
            max_keyframes=self.keyframes_per_video,
            with_exif_context=self.include_exif_context,
        )


@dataclass(frozen=True)
class MediaOptions:
    """What `prepare` needs from the settings. A prefetched input made with other
    options (the user changed the image size meanwhile) is prepared again."""

    max_side: int
    max_keyframes: int
    with_exif_context: bool


CHARS_PER_TOKEN = 4


def sampling_for(settings: SettingsSnapshot, template: PromptTemplate) -> Sampling:
    """How a caption is sampled: the user's settings, and a prompt's own bound on the
    caption length where it has one (alt text)."""
    from models.runtime import Sampling  # the window imports this module: keep it light

    chars = max(16, settings.max_caption_tokens * CHARS_PER_TOKEN)
    if template.caption_chars is not None:
        chars = min(chars, template.caption_chars)
    return Sampling(
        temperature=settings.temperature,
        top_p=settings.top_p,
        repeat_penalty=settings.repeat_penalty,
        limits=AnswerLimits(caption_chars=chars),
    )
