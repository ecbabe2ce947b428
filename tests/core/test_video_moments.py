"""A video's moments from each keyframe captioned alone (app/core/captioning/moments.py).

The logic is tested here against `ScriptedCaptions`, a test double standing in for the
engine (answers chosen per call); the real llama.cpp path is tested through the worker
with the shapes-world model (tests/world/test_world_model.py) and the random-weight
fixtures (test_worker_video_context.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from app.core.captioning.moments import caption_input, keyframe_moment
from app.core.captioning.prepare import ModelInput
from models.answer import AnswerError, CaptionAnswer
from models.prompts import MOMENT_MAX_CHARS, PromptTemplate
from models.runtime import Cancelled, CaptionResult, EngineError, Sampling
from models.servers.backend import ServerError, ServerProblem

TEMPLATE = PromptTemplate("short", "Short", "Describe it.")
FRAMES = [b"frame-0", b"frame-1", b"frame-2"]
TIMES = [0.5, 2.0, 4.0]


def result(caption: str, moments: list[str] | None = None, tokens: int = 10) -> CaptionResult:
    answer = CaptionAnswer(caption, ["tag"], "English", moments or [])
    return CaptionResult(answer, prompt_tokens=tokens, completion_tokens=tokens, seconds=1.0)


@dataclass
class ScriptedCaptions:
    """Test double for `CaptionEngine.caption`: the first call (the whole item) gets
    `whole`; a keyframe asked alone gets what `alone` maps its bytes to (a result, or an
    exception to raise)."""

    whole: CaptionResult
    alone: dict[bytes, CaptionResult | Exception] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, images: list[bytes], template: PromptTemplate, **kw: Any) -> CaptionResult:
        self.calls.append({"images": list(images), **kw})
        if len(self.calls) == 1:
            return self.whole
        answer = self.alone[images[0]]
        if isinstance(answer, Exception):
            raise answer
        return answer


def run(
    captions: ScriptedCaptions,
    *,
    per_keyframe: bool = True,
    video: bool = True,
    **extra: Any,
) -> CaptionResult:
    prepared = ModelInput(
        item_id=1,
        mtime_ns=0,
        images=FRAMES if video else FRAMES[:1],
        timestamps=TIMES if video else None,
        exif_context="Taken on 2026-01-01.",
    )
    return caption_input(
        captions,
        prepared,
        TEMPLATE,
        language="English",
        sampling=Sampling(),
        should_stop=lambda: False,
        moments_per_keyframe=per_keyframe,
        **extra,
    )


def test_each_moment_is_its_keyframe_captioned_alone() -> None:
    captions = ScriptedCaptions(
        result("A video.", ["same", "same", "same"], tokens=100),
        {f: result(f"Frame {i} alone.") for i, f in enumerate(FRAMES)},
    )
    got = run(captions)
    assert got.answer.caption == "A video." and got.answer.tags == ["tag"]
    assert got.answer.moments == ["Frame 0 alone.", "Frame 1 alone.", "Frame 2 alone."]
    assert got.prompt_tokens == 130 and got.seconds == 4.0  # the whole pass and three more
    whole, *alone = captions.calls
    assert whole["timestamps"] == TIMES and whole["exif_context"] == "Taken on 2026-01-01."
    assert [c["images"] for c in alone] == [[f] for f in FRAMES]
    # A keyframe alone is asked as a photo is: no timestamps, no date of the video.
    assert all(c.get("timestamps") is None and c.get("exif_context") is None for c in alone)


def test_a_keyframe_whose_answer_is_unusable_keeps_its_one_pass_moment() -> None:
    captions = ScriptedCaptions(
        result("A video.", ["one pass 0", "one pass 1", "one pass 2"]),
        {
            FRAMES[0]: AnswerError("the model returned an empty caption"),
            FRAMES[1]: result("Frame 1 alone."),
            FRAMES[2]: EngineError("llama.cpp could not read a video frame"),
        },
    )
    assert run(captions).answer.moments == ["one pass 0", "Frame 1 alone.", "one pass 2"]


def test_a_server_that_fails_fails_the_item_as_for_any_caption() -> None:
    fault = ServerError("box", ServerProblem.DOWN, "the server box does not answer")
    assert fault.server_fault
    captions = ScriptedCaptions(result("A video.", ["a", "b", "c"]), {FRAMES[0]: fault})
    with pytest.raises(ServerError):
        run(captions, adapter="ad-1")
    assert all(c["adapter"] == "ad-1" for c in captions.calls)  # the pool's adapter, each time
    refused = ServerError(
        "box", ServerProblem.BAD_ANSWER, "the server box cannot read this picture"
    )
    assert not refused.server_fault
    captions = ScriptedCaptions(result("A video.", ["a", "b", "c"]), {f: refused for f in FRAMES})
    assert run(captions).answer.moments == ["a", "b", "c"]


def test_cancelling_stops_between_keyframes() -> None:
    captions = ScriptedCaptions(
        result("A video.", ["a", "b", "c"]),
        {FRAMES[0]: result("Frame 0."), FRAMES[1]: Cancelled()},
    )
    with pytest.raises(Cancelled):
        run(captions)
    assert len(captions.calls) == 3  # the whole video, frame 0, frame 1: not frame 2


def test_moments_the_one_pass_left_out_are_filled_in_order() -> None:
    captions = ScriptedCaptions(
        result("A video.", ["a"]),  # cut off after the first moment
        {f: result(f"Frame {i}.") for i, f in enumerate(FRAMES)},
    )
    assert run(captions).answer.moments == ["Frame 0.", "Frame 1.", "Frame 2."]


def test_one_pass_when_the_setting_is_off_and_always_for_photos() -> None:
    captions = ScriptedCaptions(result("A video.", ["a", "b", "c"]))
    assert run(captions, per_keyframe=False).answer.moments == ["a", "b", "c"]
    photo = ScriptedCaptions(result("A photo."))
    assert run(photo, video=False).answer.caption == "A photo."
    assert len(captions.calls) == len(photo.calls) == 1


def test_a_long_keyframe_caption_is_cut_to_a_moment_at_a_word() -> None:
    words = " ".join(["word"] * 60)
    moment = keyframe_moment(words)
    assert len(moment) <= MOMENT_MAX_CHARS and moment.endswith("word…")
    assert keyframe_moment("  A red\tcircle. ") == "A red circle."
