"""How right an answer is about a world item: the shapes it names, its tags, its moments.

A caption is read for "<colour> <shape>" pairs in the world's canonical words (sizes and
"shiny" may stand between them). A photo's caption is right when it names exactly the
photo's shapes in their colours, no more and no fewer; positions and sizes are scored
apart, so a figure says which part of seeing failed. Used by the world model's training
(its progress lines), its benchmark and the tests that hold it to its bounds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

from models.world.truth import PhotoTruth, SceneTruth, VideoTruth
from models.world.vocab import COLOUR_NAMES, POSITIONS, SHAPE_NAMES, SIZE_NAMES

_COLOUR = "|".join(COLOUR_NAMES)
_SHAPE = "|".join(SHAPE_NAMES)
_FILLER = "|".join((*SIZE_NAMES, "shiny"))
# "a large shiny red circle on the left": the pair, then optionally its position words.
_PAIR = re.compile(
    rf"\b((?:(?:{_FILLER})\s+)*)({_COLOUR})\s+((?:(?:{_FILLER})\s+)*)({_SHAPE})\b"
    rf"(?:\s+({'|'.join(re.escape(p[0]) for p in POSITIONS.values())}))?",
    re.IGNORECASE,
)
SHINY_WORD = re.compile(r"\bshiny\b", re.IGNORECASE)
_POSITION_OF_PHRASE = {phrases[0]: name for name, phrases in POSITIONS.items()}


@dataclass(frozen=True)
class Named:
    colour: str
    shape: str
    position: str | None = None
    shiny: bool = False  # "shiny" said of it


def named_shapes(caption: str) -> list[Named]:
    """The (colour, shape[, position], shiny or not) a caption names, in its order."""
    return [
        Named(
            m.group(2).lower(),
            m.group(4).lower(),
            _POSITION_OF_PHRASE.get(m.group(5) or ""),
            shiny=bool(SHINY_WORD.search(m.group(1) + m.group(3))),
        )
        for m in _PAIR.finditer(caption)
    ]


def parse_answer(text: str) -> dict[str, object] | None:
    """The answer's JSON object, or None when it does not parse to one."""
    try:
        value = json.loads(text, strict=False)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def shapes_right(caption: str, shapes: Iterable[tuple[str, str]]) -> bool:
    """Whether the caption names exactly these (colour, shape) pairs."""
    named = [(n.colour, n.shape) for n in named_shapes(caption)]
    return sorted(named) == sorted(shapes)


def positions_right(caption: str, truth: PhotoTruth) -> bool:
    """Whether every shape is named with its position (and nothing else is named)."""
    named = sorted((n.colour, n.shape, n.position or "") for n in named_shapes(caption))
    return named == sorted((s.colour, s.kind, s.position) for s in truth.shapes)


def tags_f1(predicted: Sequence[str], expected: Sequence[str]) -> float:
    said = {t.strip().lower() for t in predicted if isinstance(t, str)}
    wanted = {t.lower() for t in expected}
    if not said and not wanted:
        return 1.0
    hits = len(said & wanted)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(said), hits / len(wanted)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class PhotoScore:
    parsed: bool
    shapes: bool  # shape and colour of every shape, nothing extra
    positions: bool
    tags_f1: float
    colours: bool = False  # the colours named are the photo's (whatever the shapes)
    kinds: bool = False  # the kinds of shape named are the photo's (whatever the colours)


def score_photo(truth: PhotoTruth, answer_text: str) -> PhotoScore:
    answer = parse_answer(answer_text)
    if answer is None:
        return PhotoScore(False, False, False, 0.0)
    caption = str(answer.get("caption", ""))
    raw_tags = answer.get("tags")
    tags = [t for t in raw_tags if isinstance(t, str)] if isinstance(raw_tags, list) else []
    pairs = [(s.colour, s.kind) for s in truth.shapes]
    named = named_shapes(caption)
    return PhotoScore(
        True,
        shapes_right(caption, pairs),
        positions_right(caption, truth),
        tags_f1(tags, truth.tags),
        colours=sorted(n.colour for n in named) == sorted(c for c, _ in pairs),
        kinds=sorted(n.shape for n in named) == sorted(k for _, k in pairs),
    )


def photo_averages(truths: Sequence[PhotoTruth], answers: Sequence[str]) -> dict[str, float]:
    """Each PhotoScore field averaged over the photos (the share right, the mean F1)."""
    scores = [score_photo(t, a) for t, a in zip(truths, answers, strict=True)]
    n = max(1, len(scores))
    return {f.name: sum(float(getattr(s, f.name)) for s in scores) / n for f in fields(PhotoScore)}


def scene_pairs(scene: SceneTruth) -> list[tuple[str, str]]:
    return [(s.colour, s.kind) for s in scene.shapes]


def scenes_near(truth: VideoTruth, t: float, tolerance: float = 0.5) -> list[SceneTruth]:
    """The scenes a keyframe at `t` may show: within `tolerance` seconds of a cut, either
    side of it (the extractor takes the first frames after a cut; decoders differ by a
    frame or two)."""
    return [truth.scene_at(x) for x in (t, max(0.0, t - tolerance), t + tolerance)]


def moment_right(truth: VideoTruth, t: float, moment: str) -> bool:
    """Whether a keyframe's moment names the shapes of its scene (see `scenes_near`)."""
    return any(shapes_right(moment, scene_pairs(scene)) for scene in scenes_near(truth, t))
