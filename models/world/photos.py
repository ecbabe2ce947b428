"""Photos of the shapes world: 1-3 shapes in distinct positions, never touching.

`make_photo(seed, index)` is a pure function of its arguments: the item's random
numbers come from numpy's PCG64 seeded with (seed, PHOTO_STREAM, index), so item 7 is
the same whether 10 or 10,000 are made. What may vary (and a curriculum narrows, e.g.
large centred shapes first) is in `PhotoOptions`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from models.world.draw import BACKGROUNDS, Placed, background, draw_shapes
from models.world.geometry import GAP_FRACTION, JITTER, apart, extent, inside, jittered
from models.world.truth import PhotoTruth, ShapeTruth, photo_caption, photo_paraphrases, tags
from models.world.vocab import COLOUR_NAMES, POSITION_NAMES, SHAPE_NAMES, SIZE_NAMES

PHOTO_STREAM = 1
PARAPHRASE_STREAM = 3
ATTEMPTS = 200
# Radius as a fraction of the image's short side.
RADIUS_RANGES: dict[str, tuple[float, float]] = {"small": (0.10, 0.13), "large": (0.18, 0.22)}
CANVASES: tuple[tuple[int, int], ...] = (
    (256, 256),
    (320, 240),
    (240, 320),
    (384, 216),
    (300, 200),
    (192, 256),
)
JPEG_QUALITIES = (85, 90, 95)


class LayoutError(ValueError):
    """The options leave no room for the shapes (e.g. three shapes, one position)."""


@dataclass(frozen=True)
class PhotoOptions:
    counts: tuple[int, ...] = (1, 2, 3)
    count_weights: tuple[float, ...] = (0.4, 0.35, 0.25)
    shapes: tuple[str, ...] = SHAPE_NAMES
    colours: tuple[str, ...] = COLOUR_NAMES
    sizes: tuple[str, ...] = SIZE_NAMES
    positions: tuple[str, ...] = POSITION_NAMES
    backgrounds: tuple[str, ...] = BACKGROUNDS
    canvases: tuple[tuple[int, int], ...] = CANVASES
    formats: tuple[str, ...] = ("png", "jpeg")
    # How far a shape may stray from its position's anchor (a share of the width and
    # height). Beyond JITTER the position word no longer names where the shape is, only
    # where it strayed from: photos that ask whether a model sees shapes anywhere in the
    # frame, as a video's keyframes do (bench_world_model.py).
    jitter: float = JITTER
    # Chance that a shape gets a specular highlight (and is called "shiny"): 0 in the
    # base distribution, set for the correction experiment's second kind of correction.
    shiny_rate: float = 0.0
    paraphrases: int = 4


# One or two shapes anywhere a video's keyframe may show them, not near the five anchors:
# a position word then names only the anchor a shape strayed from, so the world model
# learns from such photos only as video scenes, which name no positions.
ROAMING = PhotoOptions(counts=(1, 2), count_weights=(0.5, 0.5), jitter=0.25)
# Half the shapes with a highlight: the tower's and the shine head's training photos, and
# the correction experiment's "shiny" photos.
SHINY_OPTIONS = PhotoOptions(shiny_rate=0.5)


@dataclass(frozen=True)
class Photo:
    truth: PhotoTruth
    pixels: np.ndarray  # RGB uint8, before encoding

    def encoded(self) -> bytes:
        """The file's bytes (PNG or JPEG, as the truth says)."""
        return encode(self.pixels, self.truth.format, self.truth.quality or 90)


def encode(pixels: np.ndarray, fmt: str, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(pixels)
    if fmt == "png":
        image.save(buffer, "PNG", optimize=False, compress_level=6)
    elif fmt == "jpeg":
        image.save(buffer, "JPEG", quality=quality, optimize=False, progressive=False)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return buffer.getvalue()


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def layout(
    rng: np.random.Generator, width: int, height: int, options: PhotoOptions
) -> list[ShapeTruth]:
    """Shapes in distinct positions, inside the image, at least a gap apart; no two with
    the same shape and colour (so every caption names each shape unambiguously)."""
    weights = np.array(options.count_weights, np.float64)
    count = int(rng.choice(options.counts, p=weights / weights.sum()))
    if count > len(options.positions):
        raise LayoutError(f"{count} shapes need {count} positions")
    short = min(width, height)
    gap = GAP_FRACTION * short
    for attempt in range(ATTEMPTS):
        positions = [options.positions[int(i)] for i in rng.permutation(len(options.positions))]
        # Half the attempts in, large shapes that keep colliding give way to small ones.
        sizes = options.sizes if attempt < ATTEMPTS // 2 else options.sizes[:1]
        placed: list[ShapeTruth] = []
        discs: list[tuple[float, float, float]] = []
        for position in positions[:count]:
            kind, colour = _pick(rng, options.shapes), _pick(rng, options.colours)
            size = _pick(rng, sizes)
            low, high = RADIUS_RANGES[size]
            radius = float(rng.uniform(low, high)) * short
            x, y = jittered(rng, position, width, height, options.jitter)
            disc = (x, y, radius * extent(kind))
            shiny = bool(rng.random() < options.shiny_rate)
            if not inside(x, y, disc[2], width, height):
                break
            if any(not apart(disc, other, gap) for other in discs):
                break
            if any((s.kind, s.colour) == (kind, colour) for s in placed):
                break
            placed.append(ShapeTruth(kind, colour, size, position, x, y, radius, shiny))
            discs.append(disc)
        if len(placed) == count:
            return placed
    raise LayoutError(f"no room for {count} shapes in {width}x{height} after {ATTEMPTS} tries")


def make_photo(
    seed: int, index: int, options: PhotoOptions | None = None, *, split: str = "train"
) -> Photo:
    options = options or PhotoOptions()
    rng = np.random.default_rng([seed, PHOTO_STREAM, index])
    width, height = options.canvases[int(rng.integers(len(options.canvases)))]
    fmt = _pick(rng, options.formats)
    quality = JPEG_QUALITIES[int(rng.integers(len(JPEG_QUALITIES)))]
    shapes = layout(rng, width, height, options)
    canvas, bg = background(rng, _pick(rng, options.backgrounds), width, height)
    pixels = draw_shapes(
        canvas, [Placed(s.kind, s.colour, s.x, s.y, s.radius, s.shiny) for s in shapes]
    )
    words_rng = np.random.default_rng([seed, PARAPHRASE_STREAM, index])
    item_id = f"photo-{index:06d}"
    truth = PhotoTruth(
        id=item_id,
        file=f"photos/{item_id}.{'png' if fmt == 'png' else 'jpg'}",
        width=width,
        height=height,
        format=fmt,
        background=bg.to_dict(),
        shapes=tuple(shapes),
        caption=photo_caption(shapes),
        paraphrases=tuple(photo_paraphrases(shapes, words_rng, options.paraphrases)),
        tags=tuple(tags(shapes)),
        split=split,
        quality=quality if fmt == "jpeg" else None,
    )
    return Photo(truth, pixels)
