"""Pixels: backgrounds and shapes, drawn with Pillow and numpy only (deterministic).

Shapes are drawn into a 4x larger mask and box-filtered down (anti-aliased edges
without any resampling library whose output could drift between versions). Backgrounds
are muted (low saturation, mid grey levels) so every named colour stays visible on them.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw

from models.world.geometry import extent, outline
from models.world.vocab import colour

SUPERSAMPLE = 4
BACKGROUNDS = ("plain", "gradient", "noisy", "photo")
# scikit-image's bundled photographs (no download): colour ones and grey textures.
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "camera", "brick", "grass", "moon")
HIGHLIGHT = (255, 255, 255)


@dataclass(frozen=True)
class Background:
    kind: str  # one of BACKGROUNDS
    detail: str  # the colours, or the photo's name, for the truth file

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class Placed:
    """One shape as drawn: centre and radius in pixels."""

    kind: str
    colour: str
    x: float
    y: float
    radius: float
    shiny: bool = False


def muted_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    hue = float(rng.uniform(0, 1))
    saturation = float(rng.uniform(0.04, 0.22))
    value = float(rng.uniform(0.45, 0.82))
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


def background(
    rng: np.random.Generator, kind: str, width: int, height: int
) -> tuple[np.ndarray, Background]:
    """An RGB uint8 array (height, width, 3) and what it is."""
    if kind == "plain":
        rgb = muted_colour(rng)
        array = np.empty((height, width, 3), np.uint8)
        array[:] = rgb
        return array, Background(kind, _hex(rgb))
    if kind == "gradient":
        a, b = muted_colour(rng), muted_colour(rng)
        angle = float(rng.uniform(0, 2 * np.pi))
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        along = xs * np.cos(angle) + ys * np.sin(angle)
        t = (along - along.min()) / max(float(along.max() - along.min()), 1.0)
        mixed = (1 - t)[..., None] * np.array(a, np.float32) + t[..., None] * np.array(
            b, np.float32
        )
        return np.rint(mixed).astype(np.uint8), Background(kind, f"{_hex(a)}-{_hex(b)}")
    if kind == "noisy":
        rgb = muted_colour(rng)
        sigma = float(rng.uniform(8, 22))
        noise = rng.normal(0.0, sigma, size=(height, width, 1)).astype(np.float32)
        noisy = np.array(rgb, np.float32) + noise
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8), Background(
            kind, f"{_hex(rgb)}~{sigma:.0f}"
        )
    if kind == "photo":
        name = PHOTOS[int(rng.integers(len(PHOTOS)))]
        return _photo(rng, name, width, height), Background(kind, name)
    raise KeyError(kind)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


@cache
def _photo_source(name: str) -> np.ndarray:
    from skimage import data  # the dev extra; only photo backgrounds need it

    array: np.ndarray = np.asarray(getattr(data, name)())
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return np.ascontiguousarray(array[..., :3].astype(np.uint8))


def _photo(rng: np.random.Generator, name: str, width: int, height: int) -> np.ndarray:
    """A random crop of the photo at the right aspect, resized, then muted: most of its
    colour taken out and its contrast squeezed into mid greys."""
    source = _photo_source(name)
    sh, sw = source.shape[:2]
    scale = min(sw / width, sh / height) * float(rng.uniform(0.6, 1.0))
    cw, ch = max(1, int(width * scale)), max(1, int(height * scale))
    left = int(rng.integers(0, sw - cw + 1))
    top = int(rng.integers(0, sh - ch + 1))
    crop = Image.fromarray(source[top : top + ch, left : left + cw])
    resized = np.asarray(crop.resize((width, height), Image.Resampling.BILINEAR), np.float32)
    grey = resized.mean(axis=2, keepdims=True)
    desaturated = 0.25 * resized + 0.75 * grey
    muted = 70.0 + desaturated * (120.0 / 255.0)
    out: np.ndarray = np.clip(np.rint(muted), 0, 255).astype(np.uint8)
    return out


def shape_mask(shape: Placed, width: int, height: int) -> tuple[np.ndarray, int, int]:
    """Coverage (0..255, uint8) of the shape over its bounding box, and the box's
    top-left corner in the image. The box is clipped to the image."""
    reach = shape.radius * extent(shape.kind) + 2
    x0, y0 = max(0, int(shape.x - reach)), max(0, int(shape.y - reach))
    x1, y1 = min(width, int(np.ceil(shape.x + reach))), min(height, int(np.ceil(shape.y + reach)))
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0), np.uint8), x0, y0
    big = Image.new("L", ((x1 - x0) * SUPERSAMPLE, (y1 - y0) * SUPERSAMPLE), 0)
    points = [
        (
            (shape.x - x0 + px * shape.radius) * SUPERSAMPLE,
            (shape.y - y0 + py * shape.radius) * SUPERSAMPLE,
        )
        for px, py in outline(shape.kind)
    ]
    ImageDraw.Draw(big).polygon(points, fill=255)
    return np.asarray(big.reduce(SUPERSAMPLE)), x0, y0


def _highlight(shape: Placed, box: tuple[int, int, int, int]) -> np.ndarray:
    """A soft specular spot up and to the left of the centre, 0..1 over the box."""
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    cx, cy = shape.x - 0.3 * shape.radius, shape.y - 0.3 * shape.radius
    spread = 0.28 * shape.radius
    d2 = ((xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2) / (spread * spread)
    spot: np.ndarray = 0.9 * np.exp(-d2)
    return spot


def draw_shapes(canvas: np.ndarray, shapes: list[Placed]) -> np.ndarray:
    """The canvas (RGB uint8) with the shapes composited on it, in order."""
    out = canvas.astype(np.float32)
    height, width = canvas.shape[:2]
    for shape in shapes:
        mask, x0, y0 = shape_mask(shape, width, height)
        if mask.size == 0:
            continue
        y1, x1 = y0 + mask.shape[0], x0 + mask.shape[1]
        alpha = (mask.astype(np.float32) / 255.0)[..., None]
        fill: np.ndarray = np.broadcast_to(
            np.array(colour(shape.colour).rgb, np.float32), mask.shape + (3,)
        )
        if shape.shiny:
            spot = _highlight(shape, (x0, y0, x1, y1))[..., None]
            fill = fill * (1 - spot) + np.array(HIGHLIGHT, np.float32) * spot
        region = out[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = region * (1 - alpha) + fill * alpha
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
