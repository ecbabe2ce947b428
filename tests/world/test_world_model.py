"""The shapes-world model sees: held-out photos and videos captioned through the app's
own engine (`captionist caption --json`, real llama.cpp) name what is in them, and the
random-weight fixture on the same items does not (so the scores measure seeing, not the
scorer's generosity). Figures on more items: bench_world_model.py.

The committed model (about 30 minutes of training) reaches the issue's bounds on
bench_world_model.py's 200 photos and 30 videos: shape and colour of every shape right
in 0.925 of photos (bound 0.9; colours alone 0.96), tags F1 0.966 (bound 0.9), and
0.931 of video moments naming their scene's shapes (bound 0.9) with the app's default
of captioning each keyframe alone for its moment (one answer for all the keyframes:
0.677). The bounds below are what it does reach, with a margin for the smaller sample:
a regression in the engine, the prompt or the image path drops them to the random
model's zero.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from app.core.media.video import extract_keyframes
from app.core.settings import DEFAULTS
from models.world.score import moment_right, named_shapes, score_photo
from tests.benchmarks.bench_world_model import template_shape
from tests.world_support import (
    RANDOM_MODEL,
    WORLD_MODEL,
    caption_files,
    write_heldout_photos,
    write_heldout_videos,
)

pytestmark = pytest.mark.slow
PHOTOS = 60
VIDEOS = 6
COLOURS_RIGHT = 0.9  # measured 0.96 on 200 photos
SHAPES_RIGHT = 0.8  # measured 0.925 (the bound: 0.9)
TAGS_F1 = 0.9  # measured 0.966 (the bound: 0.9)
MOMENTS_RIGHT = 0.75  # measured 0.931 of 130 moments in 30 videos (the bound: 0.9)
MAX_BYTES = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def heldout(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("world")
    photos = write_heldout_photos(folder / "photos", PHOTOS)
    videos = write_heldout_videos(folder / "videos", VIDEOS)
    return photos, videos


def test_committed_files_are_whole_and_small() -> None:
    fixture = json.loads((WORLD_MODEL / "fixture.json").read_text(encoding="utf-8"))
    total = 0
    for name, meta in fixture["files"].items():
        path = WORLD_MODEL / name
        assert path.stat().st_size == meta["bytes"], name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["sha256"], name
        total += meta["bytes"]
    assert total <= MAX_BYTES


def test_photo_captions_name_each_shape_and_colour(heldout, tmp_path: Path) -> None:
    photos, _ = heldout
    got = caption_files(tmp_path / "data", WORLD_MODEL, [p for p, _ in photos])
    scores = [score_photo(truth, c.answer) for (_, truth), c in zip(photos, got, strict=True)]
    assert all(s.parsed for s in scores), [c.error for c in got]
    assert sum(s.colours for s in scores) / len(scores) >= COLOURS_RIGHT
    assert sum(s.shapes for s in scores) / len(scores) >= SHAPES_RIGHT
    assert sum(s.tags_f1 for s in scores) / len(scores) >= TAGS_F1


def test_random_weights_score_near_nothing_on_the_same_photos(heldout, tmp_path: Path) -> None:
    photos, _ = heldout
    got = caption_files(tmp_path / "data", RANDOM_MODEL, [p for p, _ in photos[:20]])
    scores = [score_photo(truth, c.answer) for (_, truth), c in zip(photos, got, strict=False)]
    assert sum(s.colours for s in scores) / len(scores) <= 0.1


def test_videos_get_a_moment_per_keyframe_naming_its_scene(heldout, tmp_path: Path) -> None:
    """One caption per keyframe, naming shapes, and a share of them naming the shapes of
    the scene that keyframe is in (the random model: none)."""
    _, videos = heldout
    got = caption_files(tmp_path / "data", WORLD_MODEL, [p for p, _ in videos])
    assert all(c.moments for c in got), [c.error for c in got]
    moments = [str(m["caption"]) for c in got for m in c.moments]
    assert all(named_shapes(text) for text in moments), moments
    scored = [
        moment_right(truth, float(m["timestamp"]), str(m["caption"]))
        for (_, truth), c in zip(videos, got, strict=True)
        for m in c.moments
    ]
    assert len(scored) == len(moments)
    assert sum(scored) / len(scored) >= MOMENTS_RIGHT, moments


def test_each_moment_is_its_keyframe_captioned_alone(heldout, tmp_path: Path) -> None:
    """By default a video's moment is its keyframe's own caption (moments_per_keyframe):
    greedy, the worker's moments for two videos are, word for word, what `caption` says
    of their keyframes saved as photos. With the setting off, one answer for all the
    keyframes, which says something else of at least one of them."""
    _, videos = heldout
    paths = [p for p, _ in videos[:2]]
    greedy = {"temperature": 0.0}
    got = caption_files(tmp_path / "videos", WORLD_MODEL, paths, settings=greedy)
    frames = []
    for path in paths:
        for keyframe in extract_keyframes(str(path), max_keyframes=DEFAULTS.keyframes_per_video):
            frames.append(tmp_path / "frames" / f"{path.stem}-{keyframe.timestamp:.2f}.png")
            frames[-1].parent.mkdir(exist_ok=True)
            keyframe.image.save(frames[-1])
    alone = caption_files(tmp_path / "frames-data", WORLD_MODEL, frames, settings=greedy)
    moments = [str(m["caption"]) for c in got for m in c.moments]
    assert moments == [json.loads(c.answer)["caption"] for c in alone]
    one_pass = {**greedy, "moments_per_keyframe": False}
    got = caption_files(tmp_path / "one-pass", WORLD_MODEL, paths, settings=one_pass)
    assert [str(m["caption"]) for c in got for m in c.moments] != moments


# alt text: <= 125 characters (measured 100 %); tags: the caption is three of the
# photo's tags joined by commas (measured 88 %).
@pytest.mark.parametrize(("template", "bound"), [("alt-text", 0.9), ("tags", 0.7)])
def test_prompt_templates_give_answers_of_their_shape(
    heldout, tmp_path: Path, template: str, bound: float
) -> None:
    photos, _ = heldout
    sample = photos[:15]
    got = caption_files(tmp_path / "data", WORLD_MODEL, [p for p, _ in sample], prompt=template)
    shaped = [
        template_shape(template, truth, c.answer) for (_, truth), c in zip(sample, got, strict=True)
    ]
    assert sum(shaped) / len(shaped) >= bound
