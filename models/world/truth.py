"""What is in each item, and the words for it: captions, paraphrases, tags, the answer.

The canonical caption is what a model should say: fixed words (the first of each
vocabulary entry), shapes in reading order (top, left, centre, right, bottom), size
always named. Paraphrases swap in synonyms, other templates and other orders; they are
for search tests and for contrastive training of an embedding model, never targets.
`answer_json` renders the truth as the engine's exact JSON answer
(`models.finetune.spec.Target`, the same text fine-tuning trains on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.finetune.spec import Target
from models.world.vocab import (
    colour_words,
    motion_words,
    position_words,
    shape_words,
    size_words,
)

READING_ORDER = ("top", "left", "centre", "right", "bottom")
NUMBERS = {1: "One", 2: "Two", 3: "Three", 4: "Four"}
PARAPHRASES = 4
LANGUAGE = "English"


@dataclass(frozen=True)
class ShapeTruth:
    """One shape of a photo: what it is and where (centre and radius in pixels)."""

    kind: str
    colour: str
    size: str
    position: str
    x: float
    y: float
    radius: float
    shiny: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": self.kind,
            "colour": self.colour,
            "size": self.size,
            "position": self.position,
            "x": round(self.x, 2),
            "y": round(self.y, 2),
            "radius": round(self.radius, 2),
            "shiny": self.shiny,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShapeTruth:
        return cls(
            d["shape"], d["colour"], d["size"], d["position"], d["x"], d["y"], d["radius"],
            bool(d.get("shiny", False)),
        )  # fmt: skip


@dataclass(frozen=True)
class MovingShape:
    """One shape of a video scene, moving in a straight line from start to end."""

    kind: str
    colour: str
    size: str
    motion: str  # right, left, up, down
    start: tuple[float, float]
    end: tuple[float, float]
    radius: float
    shiny: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": self.kind,
            "colour": self.colour,
            "size": self.size,
            "motion": self.motion,
            "start": [round(v, 2) for v in self.start],
            "end": [round(v, 2) for v in self.end],
            "radius": round(self.radius, 2),
            "shiny": self.shiny,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MovingShape:
        start, end = d["start"], d["end"]
        return cls(
            d["shape"], d["colour"], d["size"], d["motion"], (start[0], start[1]),
            (end[0], end[1]), d["radius"], bool(d.get("shiny", False)),
        )  # fmt: skip


@dataclass(frozen=True)
class Words:
    """Which word to use for each kind of thing: index 0 is canonical."""

    pick: np.random.Generator | None = None  # None: the canonical words

    def of(self, options: Sequence[str]) -> str:
        if self.pick is None:
            return options[0]
        return options[int(self.pick.integers(len(options)))]


def article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def noun_phrase(kind: str, colour: str, size: str, shiny: bool, words: Words) -> str:
    parts = [words.of(size_words(size))]
    if shiny:
        parts.append("shiny")
    parts += [words.of(colour_words(colour)), words.of(shape_words(kind))]
    return article(" ".join(parts))


def join(items: Sequence[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def reading_order(shapes: Sequence[ShapeTruth]) -> list[ShapeTruth]:
    return sorted(shapes, key=lambda s: READING_ORDER.index(s.position))


def photo_caption(shapes: Sequence[ShapeTruth], words: Words | None = None) -> str:
    words = words or Words()
    items = [
        f"{noun_phrase(s.kind, s.colour, s.size, s.shiny, words)}"
        f" {words.of(position_words(s.position))}"
        for s in reading_order(shapes)
    ]
    return sentence(join(items))


def _photo_paraphrase(shapes: Sequence[ShapeTruth], rng: np.random.Generator) -> str:
    words = Words(rng)
    order = list(reading_order(shapes))
    if rng.integers(2):
        order = [order[int(i)] for i in rng.permutation(len(order))]

    def thing(s: ShapeTruth) -> str:
        return noun_phrase(s.kind, s.colour, s.size, s.shiny, words)

    def where(s: ShapeTruth) -> str:
        return words.of(position_words(s.position))

    template = int(rng.integers(5))
    if template == 0:
        return sentence(join([f"{thing(s)} {where(s)}" for s in order]))
    if template == 1:
        return sentence("there is " + join([f"{thing(s)} {where(s)}" for s in order]))
    if template == 2:
        return " ".join(sentence(f"{where(s)}, {thing(s)}") for s in order)
    if template == 3:
        return sentence("a picture of " + join([f"{thing(s)} {where(s)}" for s in order]))
    count = NUMBERS[len(order)].lower()
    noun = "shape" if len(order) == 1 else "shapes"
    return sentence(f"{count} {noun}: " + join([f"{thing(s)} {where(s)}" for s in order]))


def paraphrases(
    canonical: str,
    make: Callable[[np.random.Generator], str],
    rng: np.random.Generator,
    count: int = PARAPHRASES,
) -> list[str]:
    """Up to `count` distinct texts from `make(rng)`, none equal to the canonical one."""
    found: dict[str, None] = {}
    for _ in range(count * 8):
        text = make(rng)
        if text != canonical:
            found.setdefault(text, None)
        if len(found) == count:
            break
    return list(found)


def photo_paraphrases(
    shapes: Sequence[ShapeTruth], rng: np.random.Generator, count: int = PARAPHRASES
) -> list[str]:
    return paraphrases(photo_caption(shapes), lambda r: _photo_paraphrase(shapes, r), rng, count)


def tags(items: Sequence[ShapeTruth | MovingShape]) -> list[str]:
    """Colour and shape words (canonical), in the order they first appear (a photo's
    shapes in reading order, as in its caption); "shiny" last."""
    if all(isinstance(item, ShapeTruth) for item in items):
        items = reading_order([item for item in items if isinstance(item, ShapeTruth)])
    found: dict[str, None] = {}
    for item in items:
        found.setdefault(item.colour, None)
        found.setdefault(item.kind, None)
    if any(item.shiny for item in items):
        found.setdefault("shiny", None)
    return list(found)


# -- videos ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneTruth:
    start: float  # seconds; the scene's first frame
    end: float  # seconds; the next scene's first frame (or the video's end)
    shapes: tuple[MovingShape, ...]
    background: dict[str, str]
    caption: str = ""
    paraphrases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "shapes": [s.to_dict() for s in self.shapes],
            "background": self.background,
            "caption": self.caption,
            "paraphrases": list(self.paraphrases),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SceneTruth:
        return cls(
            d["start"], d["end"], tuple(MovingShape.from_dict(s) for s in d["shapes"]),
            dict(d["background"]), d["caption"], tuple(d["paraphrases"]),
        )  # fmt: skip


def _scene_items(shapes: Sequence[MovingShape], words: Words, motion: bool) -> list[str]:
    items = []
    for s in shapes:
        phrase = noun_phrase(s.kind, s.colour, s.size, s.shiny, words)
        items.append(f"{phrase} {words.of(motion_words(s.motion))}" if motion else phrase)
    return items


def scene_caption(shapes: Sequence[MovingShape], words: Words | None = None) -> str:
    """What one keyframe of the scene shows: its shapes (a single frame cannot show
    which way they move, so the canonical words leave the motion out)."""
    return sentence(join(_scene_items(shapes, words or Words(), motion=False)))


def _scene_paraphrase(shapes: Sequence[MovingShape], rng: np.random.Generator) -> str:
    items = _scene_items(shapes, Words(rng), motion=bool(rng.integers(2)))
    template = int(rng.integers(3))
    if template == 0:
        return sentence(join(items))
    if template == 1:
        return sentence("there is " + join(items))
    return sentence("a clip of " + join(items))


def scene_paraphrases(
    shapes: Sequence[MovingShape], rng: np.random.Generator, count: int = PARAPHRASES
) -> list[str]:
    return paraphrases(scene_caption(shapes), lambda r: _scene_paraphrase(shapes, r), rng, count)


def video_caption(scenes: Sequence[SceneTruth], words: Words | None = None) -> str:
    words = words or Words()
    parts = [join(_scene_items(scene.shapes, words, motion=False)) for scene in scenes]
    if len(parts) == 1:
        return sentence("one scene: " + parts[0])
    count = NUMBERS.get(len(parts), str(len(parts)))
    return f"{count} scenes: " + ", then ".join(parts) + "."


def _video_paraphrase(scenes: Sequence[SceneTruth], rng: np.random.Generator) -> str:
    words = Words(rng)
    motion = bool(rng.integers(2))
    parts = [join(_scene_items(scene.shapes, words, motion)) for scene in scenes]
    if rng.integers(2):
        return sentence("a video of " + ", then ".join(parts))
    return sentence("first " + ", after that ".join(parts))


def video_paraphrases(
    scenes: Sequence[SceneTruth], rng: np.random.Generator, count: int = PARAPHRASES
) -> list[str]:
    return paraphrases(video_caption(scenes), lambda r: _video_paraphrase(scenes, r), rng, count)


# -- the items -------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoTruth:
    id: str
    file: str  # relative to the world's directory
    width: int
    height: int
    format: str  # png or jpeg
    background: dict[str, str]
    shapes: tuple[ShapeTruth, ...]
    caption: str
    paraphrases: tuple[str, ...]
    tags: tuple[str, ...]
    split: str = "train"
    quality: int | None = None  # JPEG quality, for a JPEG
    kind: str = field(default="photo", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "split": self.split,
            "file": self.file,
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "quality": self.quality,
            "background": self.background,
            "shapes": [s.to_dict() for s in self.shapes],
            "caption": self.caption,
            "paraphrases": list(self.paraphrases),
            "tags": list(self.tags),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PhotoTruth:
        return cls(
            id=d["id"],
            file=d["file"],
            width=d["width"],
            height=d["height"],
            format=d["format"],
            background=dict(d["background"]),
            shapes=tuple(ShapeTruth.from_dict(s) for s in d["shapes"]),
            caption=d["caption"],
            paraphrases=tuple(d["paraphrases"]),
            tags=tuple(d["tags"]),
            split=d["split"],
            quality=d.get("quality"),
        )


@dataclass(frozen=True)
class VideoTruth:
    id: str
    file: str
    width: int
    height: int
    fps: float
    frames: int
    scenes: tuple[SceneTruth, ...]
    caption: str
    paraphrases: tuple[str, ...]
    tags: tuple[str, ...]
    split: str = "train"
    kind: str = field(default="video", init=False)

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    @property
    def cuts(self) -> list[float]:
        """When each scene after the first begins (seconds)."""
        return [scene.start for scene in self.scenes[1:]]

    def scene_at(self, t: float) -> SceneTruth:
        for scene in reversed(self.scenes):
            if t >= scene.start:
                return scene
        return self.scenes[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "split": self.split,
            "file": self.file,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "frames": self.frames,
            "duration": round(self.duration, 3),
            "cuts": self.cuts,
            "scenes": [s.to_dict() for s in self.scenes],
            "caption": self.caption,
            "paraphrases": list(self.paraphrases),
            "tags": list(self.tags),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoTruth:
        return cls(
            id=d["id"],
            file=d["file"],
            width=d["width"],
            height=d["height"],
            fps=d["fps"],
            frames=d["frames"],
            scenes=tuple(SceneTruth.from_dict(s) for s in d["scenes"]),
            caption=d["caption"],
            paraphrases=tuple(d["paraphrases"]),
            tags=tuple(d["tags"]),
            split=d["split"],
        )


def from_dict(d: dict[str, Any]) -> PhotoTruth | VideoTruth:
    """An item of truth.jsonl (see `models.world.make`), back as its truth."""
    if d.get("kind") == "video":
        return VideoTruth.from_dict(d)
    return PhotoTruth.from_dict(d)


def target(
    truth: PhotoTruth | VideoTruth,
    *,
    language: str = LANGUAGE,
    times: Sequence[float] | None = None,
) -> Target:
    """The answer the engine should give for this item. For a video, `times` are the
    keyframes' timestamps (the app's keyframe extraction chooses them): each moment is
    the caption of the scene that frame is in. Without them, one moment per scene, at
    its middle."""
    if isinstance(truth, PhotoTruth):
        return Target(truth.caption, truth.tags, language)
    if times is None:
        times = [(scene.start + scene.end) / 2 for scene in truth.scenes]
    moments = tuple(truth.scene_at(t).caption for t in times)
    return Target(truth.caption, truth.tags, language, moments)


def answer_json(
    truth: PhotoTruth | VideoTruth,
    *,
    language: str = LANGUAGE,
    times: Sequence[float] | None = None,
) -> str:
    """The engine's exact JSON answer text for this item (what fine-tuning trains on)."""
    return target(truth, language=language, times=times).answer_json()
