"""Video keyframes: cuts found where they are, even spread elsewhere, odd files handled.

Videos are written by OpenCV (MJPG .avi and mp4v .mp4) with a solid colour per scene
changing at known times, so a keyframe's colour also tells which scene it shows.
"""

from __future__ import annotations

import os
import wave
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from app.core.media import scenes, video
from app.core.media.errors import MediaCancelled, MediaError
from app.core.media.probe import probe
from app.core.media.video import Keyframe, extract_keyframes, save_thumbnail, video_info
from tests.media_factory import (
    set_mp4_rotation,
    write_corner_video,
    write_truncated,
    write_video,
)

CUTS = (3.0, 7.5, 12.0)
# write_video's scene colours (BGR), as RGB
SCENE_RGB = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (40, 200, 200), (200, 200, 40)]

REAL_VIDEO_CAPTURE = cv2.VideoCapture

pytestmark = pytest.mark.timeout(60)  # a decoder stuck on a bad file must fail, not hang


def assert_well_formed(keyframes: list[Keyframe], duration: float, max_keyframes: int) -> None:
    assert 1 <= len(keyframes) <= max_keyframes
    times = [k.timestamp for k in keyframes]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert times[0] >= 0 and times[-1] <= duration
    for k in keyframes:
        assert k.image.mode == "RGB"


def scene_colour(image: Image.Image) -> tuple[int, int, int]:
    """The colour of the picture's lower half (the clock is drawn at the top)."""
    pixels = np.asarray(image)
    return tuple(int(v) for v in np.median(pixels[pixels.shape[0] // 2 :], axis=(0, 1)))


def nearest_scene(rgb: tuple[int, int, int]) -> int:
    return int(np.argmin([np.abs(np.subtract(rgb, c)).sum() for c in SCENE_RGB]))


@pytest.fixture(scope="module")
def cut_videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cuts")
    return {
        ext: write_video(folder / f"cuts{ext}", seconds=15, fps=25, size=(160, 120), cuts=CUTS)
        for ext in (".avi", ".mp4")
    }


# -- cuts and spread -------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".avi", ".mp4"])
def test_every_cut_gets_a_keyframe_showing_the_new_scene(cut_videos, ext):
    keyframes = extract_keyframes(cut_videos[ext], max_keyframes=8, max_side=128)
    assert_well_formed(keyframes, 15.0, 8)
    for n, cut in enumerate(CUTS, start=1):
        near = [k for k in keyframes if abs(k.timestamp - cut) <= 0.5]
        assert near, f"no keyframe within 0.5 s of the cut at {cut} s"
        at_cut = min(near, key=lambda k: abs(k.timestamp - cut))
        assert at_cut.is_cut and at_cut.timestamp >= cut  # the frame just after the cut
        assert nearest_scene(scene_colour(at_cut.image)) == n
    assert sum(k.is_cut for k in keyframes) == len(CUTS)  # nothing else looked like a cut
    assert len(keyframes) == 8  # the rest of the budget spread between the cuts
    assert max(k.image.size[0] for k in keyframes) == 128


def test_a_static_video_gets_evenly_spread_keyframes(tmp_path):
    path = write_video(tmp_path / "static.mp4", seconds=16, fps=25, size=(160, 120))
    keyframes = extract_keyframes(path, max_keyframes=8)
    assert_well_formed(keyframes, 16.0, 8)
    assert len(keyframes) == 8 and not any(k.is_cut for k in keyframes)
    gaps = np.diff([k.timestamp for k in keyframes])
    assert gaps.min() >= 1.0 and gaps.max() <= 3.0  # an even grid is 2 s
    assert keyframes[0].timestamp <= 2.0 and keyframes[-1].timestamp >= 14.0


def test_a_one_frame_video_gets_exactly_one_keyframe(tmp_path):
    path = write_video(tmp_path / "one.avi", seconds=0.1, fps=10)
    keyframes = extract_keyframes(path)
    assert [k.timestamp for k in keyframes] == [0.0]


@pytest.mark.parametrize(("seconds", "expected"), [(0.8, 1), (2.6, 2), (5.0, 5)])
def test_short_videos_get_keyframes_at_least_a_second_apart(tmp_path, seconds, expected):
    path = write_video(tmp_path / "short.avi", seconds=seconds, fps=25)
    keyframes = extract_keyframes(path, max_keyframes=8)
    assert len(keyframes) == expected
    assert all(np.diff([k.timestamp for k in keyframes]) >= 0.9)


def test_a_small_budget_keeps_the_strongest_cut_and_the_opening(cut_videos):
    assert len(extract_keyframes(cut_videos[".avi"], max_keyframes=1)) == 1
    two = extract_keyframes(cut_videos[".avi"], max_keyframes=2)
    assert [k.is_cut for k in two] == [False, True]


# -- rotation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("degrees", "red_at"), [(0, (0, 0)), (90, (0, 1)), (180, (1, 1)), (270, (1, 0))]
)
def test_phone_rotation_is_applied(tmp_path, degrees, red_at):
    path = set_mp4_rotation(write_corner_video(tmp_path / "phone.mp4"), degrees)
    info = video_info(path)
    assert info.rotation == degrees
    portrait = degrees in (90, 270)
    assert (info.width, info.height) == ((96, 160) if portrait else (160, 96))
    image = extract_keyframes(path)[0].image
    assert image.size == (info.width, info.height)
    pixels = np.asarray(image).astype(int)
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 90)
    rows, cols = np.nonzero(red)
    assert (round(rows.mean() / image.height), round(cols.mean() / image.width)) == red_at
    # The scanner's probe reports the same displayed size.
    probed = probe(os.fsencode(path), "video", 0)
    assert (probed.width, probed.height) == (info.width, info.height)


class IgnoresAutoOrientation:
    """A capture like those of backends without CAP_PROP_ORIENTATION_AUTO (a wrapper:
    a Python subclass of cv2.VideoCapture crashes the interpreter at exit)."""

    def __init__(self, *args: object) -> None:
        self._capture = REAL_VIDEO_CAPTURE(*args)

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_ORIENTATION_AUTO:
            value = 0
        return self._capture.set(prop, value)

    def __getattr__(self, name: str) -> object:
        return getattr(self._capture, name)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_where_a_backend_does_not_rotate_we_do(tmp_path, monkeypatch, degrees):
    path = set_mp4_rotation(write_corner_video(tmp_path / "phone.mp4"), degrees)
    by_opencv = extract_keyframes(path)[0].image
    info = video_info(path)
    monkeypatch.setattr(cv2, "VideoCapture", IgnoresAutoOrientation)
    assert video_info(path) == info
    by_us = extract_keyframes(path)[0].image
    assert np.array_equal(np.asarray(by_us), np.asarray(by_opencv))


# -- odd and broken files -------------------------------------------------------------------
def test_a_truncated_avi_gives_keyframes_from_what_decodes(tmp_path, cut_videos):
    path = write_truncated(tmp_path / "cut-short.avi", cut_videos[".avi"], keep=0.5)
    keyframes = extract_keyframes(path)
    assert_well_formed(keyframes, 9.0, 8)  # about half of the 15 s decodes
    assert any(k.is_cut and abs(k.timestamp - 3.0) <= 0.5 for k in keyframes)


def test_a_truncated_mp4_is_a_clear_error(tmp_path, cut_videos):
    path = write_truncated(tmp_path / "cut-short.mp4", cut_videos[".mp4"], keep=0.6)
    with pytest.raises(MediaError, match="not a video"):  # mp4v keeps its index at the end
        extract_keyframes(path)


def test_random_bytes_and_text_named_mp4_are_media_errors(tmp_path):
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(1).bytes(64_000))
    (tmp_path / "notes.mp4").write_text("not a video\n" * 100)
    for name in ("noise.mp4", "notes.mp4"):
        with pytest.raises(MediaError, match="not a video"):
            extract_keyframes(tmp_path / name)
        with pytest.raises(MediaError):
            video_info(tmp_path / name)


def test_sound_without_pictures_is_a_media_error(tmp_path):
    with wave.open(str(tmp_path / "voice.mp4"), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\0\0" * 8000)
    with pytest.raises(MediaError, match="audio only"):
        extract_keyframes(tmp_path / "voice.mp4")


def test_a_video_without_frames_says_so(tmp_path):
    writer = cv2.VideoWriter(
        str(tmp_path / "none.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48)
    )
    writer.release()
    with pytest.raises(MediaError, match="no decodable frames"):
        extract_keyframes(tmp_path / "none.avi")
    with pytest.raises(MediaError, match="no decodable frames"):
        video_info(tmp_path / "none.avi")


def test_missing_and_empty_files_are_media_errors(tmp_path):
    with pytest.raises(MediaError, match="vanished"):
        extract_keyframes(tmp_path / "gone.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        extract_keyframes(tmp_path / "empty.mp4")


def test_a_name_that_is_not_utf8_works(tmp_path):
    name = os.fsencode(tmp_path) + b"/f\xe9te-%d-\xff.avi"
    # OpenCV cannot write such a name either (it crashes): write, then rename.
    os.rename(write_video(tmp_path / "plain.avi", seconds=4, fps=10, cuts=(2.0,)), name)
    keyframes = extract_keyframes(name)
    assert any(k.is_cut and abs(k.timestamp - 2.0) <= 0.5 for k in keyframes)
    assert video_info(name).frame_count == 40


# -- bounds -------------------------------------------------------------------------------
def test_should_stop_cancels(cut_videos):
    with pytest.raises(MediaCancelled):
        extract_keyframes(cut_videos[".avi"], should_stop=lambda: True)


def test_the_time_limit_keeps_what_was_found(cut_videos, monkeypatch):
    monkeypatch.setattr(video, "SCAN_TIME_LIMIT_S", 0.0)
    keyframes = extract_keyframes(cut_videos[".avi"])
    # The clock is read every STOP_POLL_FRAMES (32) frames: 1.28 s of this 15 s video.
    assert keyframes and max(k.timestamp for k in keyframes) < video.STOP_POLL_FRAMES / 25


def test_long_videos_are_seeked_evenly_instead_of_decoded(cut_videos, monkeypatch):
    monkeypatch.setattr(video, "FULL_SCAN_MEGAPIXEL_FRAMES", 1)
    keyframes = extract_keyframes(cut_videos[".mp4"], max_keyframes=5)
    centres = [1.5, 4.5, 7.5, 10.5, 13.5]  # of five 3 s stretches
    assert np.allclose([k.timestamp for k in keyframes], centres, atol=0.1)
    assert_well_formed(keyframes, 15.0, 5)


def test_video_info_reads_the_container(cut_videos):
    info = video_info(cut_videos[".mp4"])
    assert (info.width, info.height, info.rotation) == (160, 120, 0)
    assert info.fps == 25 and info.frame_count == 375 and info.duration == 15.0


def test_save_thumbnail_is_atomic_and_small(tmp_path, cut_videos):
    frame = extract_keyframes(cut_videos[".avi"], max_keyframes=1)[0]
    dest = save_thumbnail(frame.image, tmp_path / "k" / "0001.jpg", max_side=64)
    with Image.open(dest) as thumb:
        assert thumb.size == (64, 48) and thumb.format == "JPEG"
    assert os.listdir(dest.parent) == ["0001.jpg"]


# -- the choice, with plain numbers -------------------------------------------------------
def test_fill_times_make_an_even_grid_without_cuts():
    assert scenes.fill_times([], 16.0, 8) == [1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0]
    assert scenes.fill_times([], 0.0, 8) == [0.0]  # one frame: one keyframe
    assert scenes.fill_times([], 1.5, 8) == [0.75]


def test_fill_times_spread_between_cuts_and_keep_a_second_apart():
    moments = scenes.fill_times([3.0, 7.5, 12.0], 15.0, 5)
    assert moments == [1.0, 4.5, 6.0, 9.75, 14.0]
    # 3 s before the cut hold two moments 1.2 s apart; the 1 s after it, none.
    assert np.allclose(scenes.fill_times([3.0], 4.0, 8), [0.6, 1.8])


def test_a_busy_clip_is_not_full_of_cuts():
    times = [i / 6 for i in range(120)]
    rng = np.random.default_rng(3)
    scores = list(0.2 + 0.1 * rng.random(120))  # shaky and busy: every sample changes
    scores[60] = 0.95  # one real cut
    assert scenes.find_cuts(times, scores) == [60]
    scores[60] = 0.4  # not far enough above its neighbourhood
    assert scenes.find_cuts(times, scores) == []
