"""Caption a prepared item; for a video, each moment from its keyframe captioned alone.

One pass over all of a video's keyframes gives its caption, its tags and a moment per
keyframe. A small model writing several moments in one answer lets the frames bleed
into each other: a one-shape scene's shape named twice after a two-shape scene, a
neighbouring scene's shape named (the shapes-world model: 0.68 of held-out moments
right in one pass, 0.93 with each keyframe alone; tests/fixtures/models/README.md). So
by default (the `moments_per_keyframe` setting) every keyframe is also captioned on its
own, with the same prompt, and its caption becomes that keyframe's moment. It costs a
second look at every keyframe (bench_world_model.py prints both ways side by side).

A keyframe whose own answer is unusable keeps the moment the one pass gave it: one bad
frame costs the video nothing. Cancelling stops between frames too, and a server that
fails is the pool's to handle, as for any caption.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from app.core.captioning.prepare import ModelInput
from models.answer import AnswerError, clean_text
from models.prompts import MOMENT_MAX_CHARS, PromptTemplate
from models.runtime import CaptionResult, EngineError, Sampling
from models.servers.backend import ServerError

log = logging.getLogger(__name__)


# `CaptionEngine.caption` or a `CaptionBackend`'s (the pool's adds `adapter=`).
Captions = Callable[..., CaptionResult]


def caption_input(
    caption: Captions,
    prepared: ModelInput,
    template: PromptTemplate,
    *,
    language: str,
    sampling: Sampling,
    should_stop: Callable[[], bool],
    moments_per_keyframe: bool,
    **extra: Any,
) -> CaptionResult:
    """The item's caption, tags and (for a video) moments. Raises what `caption` raises
    for the whole item (Cancelled, EngineError, AnswerError, ServerError)."""
    result = caption(
        prepared.images,
        template,
        language=language,
        exif_context=prepared.exif_context,
        timestamps=prepared.timestamps,
        sampling=sampling,
        should_stop=should_stop,
        **extra,
    )
    if prepared.timestamps is None or not moments_per_keyframe:
        return result
    moments = list(result.answer.moments)
    prompt_tokens, completion_tokens, seconds = (
        result.prompt_tokens,
        result.completion_tokens,
        result.seconds,
    )
    for index, image in enumerate(prepared.images):
        try:
            alone = caption(
                [image],
                template,
                language=language,
                sampling=sampling,
                should_stop=should_stop,
                **extra,
            )
        except (EngineError, AnswerError) as exc:  # a ServerError is an EngineError too
            if isinstance(exc, ServerError) and exc.server_fault:
                raise
            log.info("keyframe %d: kept the one-pass moment (%s)", index, exc)
            continue
        moment = keyframe_moment(alone.answer.caption)
        if index < len(moments):
            moments[index] = moment
        elif index == len(moments):  # the one pass was cut off before this moment
            moments.append(moment)
        prompt_tokens += alone.prompt_tokens
        completion_tokens += alone.completion_tokens
        seconds += alone.seconds
    return CaptionResult(
        answer=replace(result.answer, moments=moments),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        seconds=seconds,
    )


def keyframe_moment(caption: str) -> str:
    """A keyframe's own caption as its moment: a moment's length at most, cut at a
    word where it must be cut."""
    text = clean_text(caption)
    if len(text) <= MOMENT_MAX_CHARS:
        return text
    cut = text[: MOMENT_MAX_CHARS - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"
