"""Photo reels, the world captioner's cheap videos (tests/fixtures/world_training.py):
each keyframe shows the photo of the scene its moment describes, at a real video's
keyframe times, and the answer is built as a real video's is."""

from __future__ import annotations

import json
import random

import numpy as np

from models.prompts import builtin_prompts
from models.world.photos import PhotoOptions
from tests.fixtures.world_training import (
    answer_for,
    make_photos,
    make_videos,
    photo_reel,
    still_scene,
)

TILE = 64


def test_each_keyframe_shows_the_scene_its_moment_names() -> None:
    photos = make_photos(3, 40, TILE, PhotoOptions()).photos
    (video, *_) = make_videos(3, 3, TILE, keyframes=8)
    candidates = [p for p in photos if len(p.truth.shapes) <= 2]
    for seed in range(5):
        reel = photo_reel(video, candidates, random.Random(seed))
        assert reel.times == video.times and len(reel.frames) == len(video.times)
        assert [(s.start, s.end) for s in reel.truth.scenes] == [
            (s.start, s.end) for s in video.truth.scenes
        ]
        captions = [s.caption for s in reel.truth.scenes]
        assert all(a != b for a, b in zip(captions, captions[1:], strict=False))
        answer = json.loads(answer_for(reel.truth, builtin_prompts()["short"], reel.times))
        assert answer["caption"] == reel.truth.caption and len(answer["moments"]) == len(reel.times)
        for frame, moment in zip(reel.frames, answer["moments"], strict=True):
            shown = [
                p
                for p in candidates
                if np.array_equal(frame, p.pixels) or np.array_equal(frame, p.pixels[:, ::-1])
            ]
            assert shown and moment in {still_scene(p.truth, 0, 1).caption for p in shown}
        for frame, grid in zip(reel.frames, reel.grids, strict=True):  # labels follow the frame
            labelled = {(p.pixels.tobytes(), p.grid.tobytes()) for p in candidates} | {
                (p.pixels[:, ::-1].tobytes(), p.grid[:, :, ::-1].tobytes()) for p in candidates
            }
            assert (frame.tobytes(), grid.tobytes()) in labelled


def test_each_keyframe_of_a_training_video_is_labelled_with_the_shapes_of_its_scene() -> None:
    from models.world.vocab import SHAPE_NAMES

    for video in make_videos(3, 4, TILE, keyframes=8):
        assert video.grids.shape == (len(video.times), 3, TILE // 8, TILE // 8)
        for t, grid in zip(video.times, video.grids, strict=True):
            kinds = {1 + SHAPE_NAMES.index(s.kind) for s in video.truth.scene_at(t).shapes}
            assert set(np.unique(grid[0])) - {0} == kinds
