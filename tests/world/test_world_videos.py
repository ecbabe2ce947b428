"""The shapes world's videos: the app's own keyframe code finds the cuts the truth states."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from app.core.media.video import extract_keyframes
from models.answer import parse_answer
from models.prompts import MOMENT_MAX_CHARS, AnswerLimits
from models.world.draw import Placed, shape_mask
from models.world.truth import answer_json
from models.world.videos import Video, VideoOptions, make_video

SEED = 16
CUT_TOLERANCE_S = 0.5


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Video, Path]]:
    folder = tmp_path_factory.mktemp("world-videos")
    made = [make_video(SEED, index) for index in range(8)]
    return [(video, video.write(folder / f"{video.truth.id}.mp4")) for video in made]


def test_same_seed_same_video(tmp_path: Path) -> None:
    a, b = make_video(SEED, 2), make_video(SEED, 2)
    assert a.truth == b.truth
    assert a.write(tmp_path / "a.mp4").read_bytes() == b.write(tmp_path / "b.mp4").read_bytes()


def test_scenes_tile_the_video(videos: list[tuple[Video, Path]]) -> None:
    for video, path in videos:
        t = video.truth
        assert t.scenes[0].start == 0.0 and t.scenes[-1].end == pytest.approx(t.duration)
        for before, after in zip(t.scenes, t.scenes[1:], strict=False):
            assert before.end == after.start
            assert before.caption != after.caption
        capture = cv2.VideoCapture(str(path))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == t.frames
        assert (
            int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        ) == (t.width, t.height)
        capture.release()


def test_the_apps_keyframes_find_the_cuts(videos: list[tuple[Video, Path]]) -> None:
    for video, path in videos:
        keyframes = extract_keyframes(str(path), max_keyframes=8, max_side=256)
        found = sorted(k.timestamp for k in keyframes if k.is_cut)
        assert len(found) == len(video.truth.cuts), (video.truth.id, found, video.truth.cuts)
        for seen, truth in zip(found, video.truth.cuts, strict=True):
            assert abs(seen - truth) <= CUT_TOLERANCE_S, (video.truth.id, found, video.truth.cuts)


def test_the_truth_is_the_engines_answer_at_the_keyframes(videos: list[tuple[Video, Path]]) -> None:
    limits = AnswerLimits()
    for video, path in videos:
        times = [k.timestamp for k in extract_keyframes(str(path), max_keyframes=6, max_side=128)]
        answer = parse_answer(answer_json(video.truth, times=times), moments=len(times))
        assert answer.complete and answer.caption == video.truth.caption
        assert answer.moments == [video.truth.scene_at(t).caption for t in times]
        assert len(answer.caption) <= limits.caption_chars
        assert len(answer.tags) <= limits.max_tags
        assert all(len(m) <= MOMENT_MAX_CHARS for m in answer.moments)
        assert set(video.truth.tags) == {
            w for scene in video.truth.scenes for s in scene.shapes for w in (s.colour, s.kind)
        }
        for scene in video.truth.scenes:
            assert scene.caption not in scene.paraphrases and len(scene.paraphrases) == 4


def test_moving_shapes_never_overlap(videos: list[tuple[Video, Path]]) -> None:
    for video, _path in videos[:4]:
        t = video.truth
        frames = list(video.frames())
        assert len(frames) == t.frames and frames[0].shape == (t.height, t.width, 3)
        for scene, first in zip(t.scenes, [round(s.start * t.fps) for s in t.scenes], strict=True):
            steps = round((scene.end - scene.start) * t.fps)
            for j in (0, steps // 2, steps - 1):
                at = j / max(steps - 1, 1)
                cover = np.zeros((t.height, t.width), np.int32)
                for s in scene.shapes:
                    x = s.start[0] + at * (s.end[0] - s.start[0])
                    y = s.start[1] + at * (s.end[1] - s.start[1])
                    mask, x0, y0 = shape_mask(
                        Placed(s.kind, s.colour, x, y, s.radius), t.width, t.height
                    )
                    cover[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]] += mask > 0
                assert cover.max() == 1
            assert (
                np.abs(frames[first].astype(int) - frames[first + steps - 1].astype(int)).sum() > 0
            )


def test_shiny_videos_are_controllable() -> None:
    shiny = make_video(SEED, 0, VideoOptions(shiny_rate=1.0))
    assert all(s.shiny for scene in shiny.truth.scenes for s in scene.shapes)
    assert "shiny" in shiny.truth.tags and "shiny" in shiny.truth.scenes[0].caption
    assert not any(s.shiny for scene in make_video(SEED, 0).truth.scenes for s in scene.shapes)


def test_the_shapes_placed_at_a_time_are_the_ones_drawn_in_its_frame(
    videos: list[tuple[Video, Path]],
) -> None:
    """placed_at gives the world model's keyframe labels (world_training.placed_grid):
    each shape it places at a frame's time is drawn there, in its colour."""
    from models.world.vocab import COLOURS

    rgb = {c.name: c.rgb for c in COLOURS}
    for video, _ in videos[:4]:
        for index, frame in enumerate(video.frames()):
            t = index / video.truth.fps
            placed = video.placed_at(t)
            assert [p.kind for p in placed] == [s.kind for s in video.truth.scene_at(t).shapes]
            for p in placed:
                drawn = frame[int(round(p.y)), int(round(p.x))].astype(int)
                assert np.abs(drawn - rgb[p.colour]).max() <= 40, (index, p)
