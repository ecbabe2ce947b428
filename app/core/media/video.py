"""Videos as the captioning model wants them: a few upright RGB keyframes with timestamps.

One decode pass, because decoding is nearly all the cost (see tests/benchmarks/
bench_keyframes.py): every frame is grab()bed (decoded, which inter-coded video
needs anyway), but only ~6 a second are retrieve()d (converted to BGR) and reduced
to a tiny signature for scene-change scoring (scenes.py). The frames that could end
up as keyframes are kept while passing, already shrunk to max_side: the samples just
after the strongest changes, plus an even grid over time for the moments between
cuts. So nothing is decoded twice; seeking back instead costs a decode from the
previous keyframe of the stream for every pick (~130 ms each for 720p mp4v here,
more for long-GOP files) and fails on files without an index, such as truncated AVIs.

Rotation: OpenCV's FFmpeg backend applies a phone video's display matrix itself
(CAP_PROP_ORIENTATION_AUTO, on by default since 4.5, verified with OpenCV 5.0: a
90-degree file comes out portrait and FRAME_WIDTH/HEIGHT are already swapped). We set
it explicitly and rotate ourselves only where a backend ignores it.

Work is bounded: a video whose decode would be long (over FULL_SCAN_MEGAPIXEL_FRAMES,
about 20 minutes of 1080p) gets evenly spaced seeks instead of scene detection, and
any pass stops after SCAN_TIME_LIMIT_S, keeping what it found.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from app.core.media import scenes
from app.core.media.decoders import opencv_path, require_file
from app.core.media.errors import MediaCancelled, MediaError
from app.core.media.photo import save_thumbnail
from app.core.os_errors import describe_os_error

__all__ = [
    "Keyframe",
    "VideoInfo",
    "extract_keyframes",
    "frames_at",
    "save_thumbnail",
    "video_info",
]

log = logging.getLogger(__name__)

ANALYSIS_FPS = 6.0  # samples scored per second of video: a cut is found to within 1/6 s
FALLBACK_FPS = 30.0  # when the container does not say (or says nonsense)
FULL_SCAN_MEGAPIXEL_FRAMES = 75_000  # ~20 min of 1080p30, ~5 min of 4K30
SCAN_TIME_LIMIT_S = 300.0
STOP_POLL_FRAMES = 32
NO_FRAMES = "no decodable frames (audio only?)"
POSTER_POSITION = 0.10  # a frame a tenth of the way in: past fade-ins and black leaders
NOT_A_VIDEO = "not a video Captionist can read (wrong extension, corrupt, or audio only)"
_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration: float  # seconds, from the container (0.0 when it does not say)
    fps: float
    width: int  # as displayed: rotation already applied
    height: int
    rotation: int  # the file's display rotation in degrees (0, 90, 180, 270)
    frame_count: int  # the container's count (an estimate for some formats)


@dataclass(frozen=True, slots=True)
class Keyframe:
    timestamp: float  # seconds from the start, from the frame's presentation time
    image: Image.Image  # RGB, upright, longest side <= max_side
    is_cut: bool = False  # the first sampled frame of a new scene (else an even-spread pick)


def video_info(path: bytes | str) -> VideoInfo:
    """Container facts plus proof that at least one frame decodes."""
    with _opened(path) as (cap, manual_rotation):
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        if not cap.grab():
            raise MediaError(NO_FRAMES)
    if manual_rotation in (90, 270):
        width, height = height, width
    duration = count / fps if fps > 0 and count > 0 else 0.0
    return VideoInfo(round(duration, 3), fps, width, height, rotation, count)


def extract_keyframes(
    path: bytes | str,
    *,
    max_keyframes: int = 8,
    max_side: int = 768,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[Keyframe]:
    """1..max_keyframes keyframes in time order: the first frames of the strongest
    scene changes, then moments spread evenly over the rest of the video.

    Raises MediaError for a file that is not a readable video or has no decodable
    frame, MediaCancelled once should_stop() returns True. A truncated file gives
    keyframes from the part that decodes."""
    if max_keyframes < 1 or max_side < 1:
        raise ValueError("max_keyframes and max_side must be at least 1")
    with _opened(path) as (cap, rotation):
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        fps = fps if 1.0 <= fps <= 1000.0 else FALLBACK_FPS
        count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        pixels = cap.get(cv2.CAP_PROP_FRAME_WIDTH) * cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
        long = count * pixels / 1e6 > FULL_SCAN_MEGAPIXEL_FRAMES
        if long:
            keyframes = _evenly_seeked(cap, count / fps, max_keyframes, max_side, should_stop)
        else:
            keyframes = _scanned(cap, fps, count / fps, max_keyframes, max_side, should_stop)
    if long and not keyframes:  # seeking failed (no index?): the bounded pass after all
        with _opened(path) as (cap, rotation):
            keyframes = _scanned(cap, fps, count / fps, max_keyframes, max_side, should_stop)
    if rotation:
        return [Keyframe(k.timestamp, _rotated(k.image, rotation), k.is_cut) for k in keyframes]
    return keyframes


def _scanned(
    cap: cv2.VideoCapture,
    fps: float,
    expected_duration: float,
    max_keyframes: int,
    max_side: int,
    should_stop: Callable[[], bool],
) -> list[Keyframe]:
    scan = _Scan(max_keyframes, max_side, expected_duration)
    _decode_pass(cap, scan, fps, should_stop)
    if not scan.times:
        raise MediaError(NO_FRAMES)
    picks = scenes.choose(scan.times, scan.scores, scan.duration, max_keyframes, scan.frames)
    return [Keyframe(scan.times[i], _rgb(scan.frames[i]), cut) for i, cut in picks]


# -- the pass -------------------------------------------------------------------------
class _Scan:
    """Sample times, change scores and the few frames that may become keyframes.

    Memory stays bounded whatever the length: a min-heap holds the frames after the
    2 * max_keyframes + 2 largest changes, and an even grid over time holds about
    3 * max_keyframes more, its cells doubling in length if the video runs longer
    than the container said (or it did not say)."""

    def __init__(self, max_keyframes: int, max_side: int, expected_duration: float) -> None:
        self.times: list[float] = []
        self.scores: list[float] = []
        self.frames: dict[int, np.ndarray] = {}
        self.duration = 0.0
        self._max_side = max_side
        self._previous: scenes.Signature | None = None
        self._cut_limit = 2 * max_keyframes + 2
        self._cuts: list[tuple[float, int]] = []  # min-heap of (score, sample index)
        self._grid_limit = 3 * max_keyframes + 3
        self._cell = max(0.25, expected_duration / (3 * max_keyframes))
        self._grid: dict[int, int] = {}  # cell number -> sample index

    def add(self, t: float, frame: np.ndarray) -> None:
        i = len(self.times)
        sig = scenes.signature(frame)
        score = scenes.change(self._previous, sig) if self._previous is not None else 0.0
        self.times.append(t)
        self.scores.append(score)
        self._previous = sig
        cell = int(t // self._cell)
        if cell not in self._grid:
            self._grid[cell] = i
            self._keep(i, frame)
            if len(self._grid) > self._grid_limit:
                self._coarsen_grid()
        if score >= scenes.MIN_CUT_SCORE:
            if len(self._cuts) < self._cut_limit:
                heapq.heappush(self._cuts, (score, i))
                self._keep(i, frame)
            elif score > self._cuts[0][0]:
                _, dropped = heapq.heapreplace(self._cuts, (score, i))
                self._keep(i, frame)
                self._release(dropped)

    def _coarsen_grid(self) -> None:
        self._cell *= 2
        old, self._grid = self._grid, {}
        for i in sorted(old.values()):
            self._grid.setdefault(int(self.times[i] // self._cell), i)
        for i in set(old.values()) - set(self._grid.values()):
            self._release(i)

    def _keep(self, i: int, frame: np.ndarray) -> None:
        if i not in self.frames:
            self.frames[i] = _shrunk(frame, self._max_side)

    def _release(self, i: int) -> None:
        if i not in self._grid.values() and all(i != j for _, j in self._cuts):
            self.frames.pop(i, None)


def _decode_pass(
    cap: cv2.VideoCapture, scan: _Scan, fps: float, should_stop: Callable[[], bool]
) -> None:
    """grab() every frame, retrieve() and score ~ANALYSIS_FPS of them, until the end,
    the first frame that does not decode (a truncated file), or the time limit."""
    frame_time = 1.0 / fps
    next_sample = 0.0
    last = -math.inf
    deadline = time.monotonic() + SCAN_TIME_LIMIT_S
    grabbed = 0
    while True:
        if grabbed % STOP_POLL_FRAMES == 0:
            if should_stop():
                raise MediaCancelled
            if time.monotonic() > deadline and scan.times:
                log.warning("keyframes: gave up decoding at %.1f s of video", last)
                break
        if not cap.grab():
            break
        grabbed += 1
        # Presentation time, so variable frame rate works; if a file's timestamps
        # stall or run backwards, count frames from the last good one instead.
        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        t = t if t > last else (last + frame_time if last > -math.inf else 0.0)
        last = t
        if t + frame_time / 2 < next_sample:
            continue
        ok, frame = cap.retrieve()
        if ok and frame is not None and frame.size:
            scan.add(t, frame)
            next_sample = t + 1.0 / ANALYSIS_FPS
    scan.duration = last + frame_time if scan.times else 0.0


def _evenly_seeked(
    cap: cv2.VideoCapture,
    duration: float,
    count: int,
    max_side: int,
    should_stop: Callable[[], bool],
) -> list[Keyframe]:
    """Long videos: one seek per keyframe at the centres of `count` equal stretches."""
    keyframes: list[Keyframe] = []
    for k in range(count):
        if should_stop():
            raise MediaCancelled
        target = duration * (k + 0.5) / count
        cap.set(cv2.CAP_PROP_POS_MSEC, target * 1000.0)
        if not cap.grab():
            continue
        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if abs(t - target) > max(2.0, duration / count / 2):
            continue  # the seek landed elsewhere (no index?): not where we meant
        ok, frame = cap.retrieve()
        if ok and frame is not None and frame.size:
            keyframes.append(Keyframe(t, _rgb(_shrunk(frame, max_side))))
    return keyframes


# -- frames at given moments (exporting a video's captioned moments as images) ------------
def frames_at(path: bytes | str, times: Sequence[float]) -> list[Keyframe]:
    """An upright, full-size RGB frame at each of `times` (seconds), in that order;
    a moment that cannot be decoded is left out.

    A seek per moment, unlike extract_keyframes' single pass: an export wants a few
    known moments of possibly long videos, where a seek (a decode from the stream's
    previous keyframe) beats decoding everything up to the last moment. A file whose
    seeks fail (no index) falls back to reading forward from the start."""
    found: list[Keyframe] = []
    with _opened(path) as (cap, rotation):
        for t in times:
            cap.set(cv2.CAP_PROP_POS_MSEC, max(0.0, t) * 1000.0)
            frame = _first_decodable(cap)
            if frame is not None:
                found.append(Keyframe(t, _rgb(frame)))
    if not found and times:
        found = _read_forward(path, times)
    return (
        [Keyframe(k.timestamp, _rotated(k.image, rotation)) for k in found] if rotation else found
    )


def _read_forward(path: bytes | str, times: Sequence[float]) -> list[Keyframe]:
    """The first frame at or after each of `times`, decoding from the start."""
    wanted = sorted(times)
    found: dict[float, Keyframe] = {}
    with _opened(path) as (cap, _rotation):
        while wanted and cap.grab():
            now = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if now + 1e-3 < wanted[0]:
                continue
            ok, frame = cap.retrieve()
            while wanted and wanted[0] <= now + 1e-3:
                t = wanted.pop(0)
                if ok and frame is not None and frame.size:
                    found[t] = Keyframe(t, _rgb(frame))
    return [found[t] for t in times if t in found]


# -- one still for a thumbnail -----------------------------------------------------------
def poster_frame(path: bytes | str, side: int) -> Image.Image:
    """An upright RGB frame about POSTER_POSITION into the video, else its first frame,
    at most `side` pixels on its long side: what a video's thumbnail shows.

    One seek rather than a decode pass: a thumbnail needs one picture, not the best.
    Files without a usable index (truncated AVIs) fail the seek and fall back to the
    first frame that decodes."""
    with _opened(path) as (cap, rotation):
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        frame = None
        if fps > 0 and count > 1:
            cap.set(cv2.CAP_PROP_POS_MSEC, count / fps * POSTER_POSITION * 1000.0)
            frame = _first_decodable(cap)
    if frame is None:  # reopened: a failed seek can leave the capture at its end
        with _opened(path) as (cap, rotation):
            frame = _first_decodable(cap)
    if frame is None:
        raise MediaError(NO_FRAMES)
    image = _rgb(_shrunk(frame, side))
    return _rotated(image, rotation) if rotation else image


def _first_decodable(cap: cv2.VideoCapture) -> np.ndarray | None:
    """The next frame that decodes (a few tries: some files start with broken frames)."""
    for _ in range(8):
        ok, frame = cap.read()
        if not ok:
            return None
        if frame is not None and frame.size:
            return frame
    return None


# -- opening and converting -------------------------------------------------------------
@contextlib.contextmanager
def _opened(path: bytes | str) -> Iterator[tuple[cv2.VideoCapture, int]]:
    """An open capture with auto-rotation on, and the rotation still to do by hand
    (0 unless the backend ignores CAP_PROP_ORIENTATION_AUTO)."""
    require_file(path)
    with contextlib.ExitStack() as stack:
        try:
            cv_path = stack.enter_context(opencv_path(path))
        except OSError as exc:  # swapped for a FIFO or removed since require_file
            raise MediaError(describe_os_error(exc)) from exc
        cap = cv2.VideoCapture(cv_path, _backend())
        try:
            if not cap.isOpened():
                raise MediaError(NOT_A_VIDEO)
            cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
            manual = 0
            if not cap.get(cv2.CAP_PROP_ORIENTATION_AUTO):
                manual = int(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
            yield cap, manual if manual in _ROTATE else 0
        finally:
            cap.release()


def _backend() -> int:
    """FFmpeg, the backend whose rotation and timestamps this module was checked
    against (and which every opencv-python wheel ships); whatever there is otherwise."""
    return cv2.CAP_FFMPEG if cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG) else cv2.CAP_ANY


def _shrunk(frame: np.ndarray, max_side: int) -> np.ndarray:
    height, width = frame.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return frame
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _rgb(frame: np.ndarray) -> Image.Image:
    if frame.ndim == 2:
        return Image.fromarray(frame).convert("RGB")
    return Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def _rotated(image: Image.Image, rotation: int) -> Image.Image:
    """Clockwise by `rotation` degrees, as OpenCV's own auto-rotation turns frames."""
    return Image.fromarray(cv2.rotate(np.asarray(image), _ROTATE[rotation]))
