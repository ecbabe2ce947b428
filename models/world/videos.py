"""Videos of the shapes world: scenes of shapes moving in straight lines, hard cuts
between them at known times, written with OpenCV (mp4v) at a small size.

Each scene has its own background, chosen far enough from the previous one's that the
cut is a real change of picture (the app's scene detector must find it), and one or two
shapes: one moves along the middle, two move side by side in lanes of their own, so
they never touch. Cuts fall on frame boundaries: a scene starts at frame / fps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.world.draw import Placed, background, draw_shapes
from models.world.geometry import EDGE_MARGIN, GAP_FRACTION, apart, extent
from models.world.photos import RADIUS_RANGES, LayoutError
from models.world.truth import (
    MovingShape,
    SceneTruth,
    VideoTruth,
    scene_caption,
    scene_paraphrases,
    tags,
    video_caption,
    video_paraphrases,
)
from models.world.vocab import COLOUR_NAMES, SHAPE_NAMES, SIZE_NAMES

VIDEO_STREAM = 2
PARAPHRASE_STREAM = 4
ATTEMPTS = 200
LANES = (0.28, 0.72)  # two shapes: each in its own horizontal lane (fractions of height)
MIN_BACKGROUND_CHANGE = 30.0  # mean grey-level difference between consecutive scenes
TRAVEL = (0.25, 0.45)  # how far a shape moves in its scene, as a fraction of the frame


@dataclass(frozen=True)
class VideoOptions:
    scene_counts: tuple[int, ...] = (2, 3)
    shape_counts: tuple[int, ...] = (1, 2)
    scene_seconds: tuple[float, float] = (1.5, 3.0)
    fps: int = 10
    canvases: tuple[tuple[int, int], ...] = ((192, 144), (224, 128), (160, 160))
    shapes: tuple[str, ...] = SHAPE_NAMES
    colours: tuple[str, ...] = COLOUR_NAMES
    sizes: tuple[str, ...] = SIZE_NAMES
    backgrounds: tuple[str, ...] = ("plain", "gradient", "photo")
    shiny_rate: float = 0.0
    paraphrases: int = 4


@dataclass(frozen=True)
class Scene:
    truth: SceneTruth
    frames: int
    canvas: np.ndarray  # the scene's background, RGB uint8


@dataclass(frozen=True)
class Video:
    truth: VideoTruth
    scenes: tuple[Scene, ...]

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame, RGB uint8, in order."""
        for scene in self.scenes:
            for j in range(scene.frames):
                t = j / max(scene.frames - 1, 1)
                yield draw_shapes(scene.canvas, [_at(s, t) for s in scene.truth.shapes])

    def placed_at(self, t: float) -> list[Placed]:
        """The shapes as drawn in the frame shown at `t` seconds (a keyframe's time)."""
        frame = round(t * self.truth.fps)
        for scene in self.scenes:
            if frame < scene.frames:
                return [_at(s, frame / max(scene.frames - 1, 1)) for s in scene.truth.shapes]
            frame -= scene.frames
        return [_at(s, 1.0) for s in self.scenes[-1].truth.shapes]

    def write(self, path: Path) -> Path:
        """The video as an mp4v .mp4 (or MJPG .avi) at `path`."""
        import cv2

        path.parent.mkdir(parents=True, exist_ok=True)
        fourcc = cv2.VideoWriter.fourcc(*("mp4v" if path.suffix == ".mp4" else "MJPG"))
        size = (self.truth.width, self.truth.height)
        writer = cv2.VideoWriter(str(path), fourcc, float(self.truth.fps), size)
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot write {path.suffix} files here")
        try:
            for frame in self.frames():
                writer.write(np.ascontiguousarray(frame[..., ::-1]))
        finally:
            writer.release()
        return path


def _at(shape: MovingShape, t: float) -> Placed:
    x = shape.start[0] + t * (shape.end[0] - shape.start[0])
    y = shape.start[1] + t * (shape.end[1] - shape.start[1])
    return Placed(shape.kind, shape.colour, x, y, shape.radius, shape.shiny)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _path(
    rng: np.random.Generator, motion: str, across: float, reach: float, width: int, height: int
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Start and end of a straight move along `motion`, `across` being the fixed
    coordinate; None when the shape cannot make the move inside the frame."""
    along = width if motion in ("left", "right") else height
    travel = float(rng.uniform(*TRAVEL)) * along
    low, high = reach + EDGE_MARGIN, along - reach - EDGE_MARGIN - travel
    if high < low:
        return None
    first = float(rng.uniform(low, high))
    a, b = (first, first + travel) if motion in ("right", "down") else (first + travel, first)
    if motion in ("left", "right"):
        return (a, across), (b, across)
    return (across, a), (across, b)


def scene_shapes(
    rng: np.random.Generator, width: int, height: int, options: VideoOptions
) -> list[MovingShape]:
    count = int(rng.choice(options.shape_counts))
    short = min(width, height)
    for attempt in range(ATTEMPTS):
        sizes = options.sizes if attempt < ATTEMPTS // 2 else options.sizes[:1]
        shapes: list[MovingShape] = []
        for lane in range(count):
            kind, colour, size = (
                _pick(rng, options.shapes),
                _pick(rng, options.colours),
                _pick(rng, sizes),
            )
            radius = float(rng.uniform(*RADIUS_RANGES[size])) * short
            reach = radius * extent(kind)
            if count == 1:
                motion = _pick(rng, ("right", "left", "up", "down"))
                middle = (height if motion in ("left", "right") else width) / 2
                across = middle + float(rng.uniform(-0.05, 0.05)) * short
            else:
                motion = _pick(rng, ("right", "left"))
                across = LANES[lane] * height
                if across - reach < EDGE_MARGIN or across + reach > height - EDGE_MARGIN:
                    break
            path = _path(rng, motion, across, reach, width, height)
            if path is None or any((s.kind, s.colour) == (kind, colour) for s in shapes):
                break
            shiny = bool(rng.random() < options.shiny_rate)
            shapes.append(MovingShape(kind, colour, size, motion, *path, radius, shiny))
        if len(shapes) == count and _never_touch(shapes, GAP_FRACTION * short):
            return shapes
    raise LayoutError(f"no room for {count} moving shapes in {width}x{height}")


def _never_touch(shapes: list[MovingShape], gap: float) -> bool:
    for t in np.linspace(0.0, 1.0, 11):
        discs = [(p.x, p.y, p.radius * extent(p.kind)) for p in (_at(s, float(t)) for s in shapes)]
        for i in range(len(discs)):
            if any(not apart(discs[i], other, gap) for other in discs[i + 1 :]):
                return False
    return True


def _grey(canvas: np.ndarray) -> np.ndarray:
    grey: np.ndarray = canvas.astype(np.float32).mean(axis=2)
    return grey


def make_video(
    seed: int, index: int, options: VideoOptions | None = None, *, split: str = "train"
) -> Video:
    options = options or VideoOptions()
    rng = np.random.default_rng([seed, VIDEO_STREAM, index])
    words_rng = np.random.default_rng([seed, PARAPHRASE_STREAM, index])
    width, height = options.canvases[int(rng.integers(len(options.canvases)))]
    count = int(rng.choice(options.scene_counts))
    scenes: list[Scene] = []
    start_frame = 0
    for _ in range(count):
        frames = round(float(rng.uniform(*options.scene_seconds)) * options.fps)
        for _attempt in range(ATTEMPTS):
            canvas, bg = background(rng, _pick(rng, options.backgrounds), width, height)
            if not scenes:
                break
            change = float(np.abs(_grey(canvas) - _grey(scenes[-1].canvas)).mean())
            if change >= MIN_BACKGROUND_CHANGE:
                break
        for _attempt in range(ATTEMPTS):
            shapes = scene_shapes(rng, width, height, options)
            if not scenes or scene_caption(shapes) != scenes[-1].truth.caption:
                break
        scene_truth = SceneTruth(
            start=start_frame / options.fps,
            end=(start_frame + frames) / options.fps,
            shapes=tuple(shapes),
            background=bg.to_dict(),
            caption=scene_caption(shapes),
            paraphrases=tuple(scene_paraphrases(shapes, words_rng, options.paraphrases)),
        )
        scenes.append(Scene(scene_truth, frames, canvas))
        start_frame += frames
    scene_truths = [scene.truth for scene in scenes]
    item_id = f"video-{index:06d}"
    truth = VideoTruth(
        id=item_id,
        file=f"videos/{item_id}.mp4",
        width=width,
        height=height,
        fps=float(options.fps),
        frames=start_frame,
        scenes=tuple(scene_truths),
        caption=video_caption(scene_truths),
        paraphrases=tuple(video_paraphrases(scene_truths, words_rng, options.paraphrases)),
        tags=tuple(tags([s for scene in scene_truths for s in scene.shapes])),
        split=split,
    )
    return Video(truth, tuple(scenes))
