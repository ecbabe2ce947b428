"""Shape outlines, where shapes go, and whether two of them touch.

Every outline is a polygon around (0, 0) in units of the shape's radius (y points down,
as in images); `extent` is how far its farthest point reaches, so two shapes whose
centres are further apart than the sum of their reaches (plus a gap) cannot overlap.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

# Positions are read from a shape's centre, as fractions of the image's width and
# height. Each placement stays within JITTER of its anchor, and anchors stand 0.28
# apart, so the nearest anchor always names the position unambiguously.
ANCHORS: dict[str, tuple[float, float]] = {
    "left": (0.22, 0.5),
    "right": (0.78, 0.5),
    "top": (0.5, 0.22),
    "bottom": (0.5, 0.78),
    "centre": (0.5, 0.5),
}
JITTER = 0.04
GAP_FRACTION = 0.03  # of the short side: the least empty space between two shapes
EDGE_MARGIN = 2.0  # pixels between a shape and the image's edge
CIRCLE_POINTS = 96


def _regular(sides: int, radius: float, turn: float) -> list[tuple[float, float]]:
    return [
        (
            radius * math.cos(turn + 2 * math.pi * k / sides),
            radius * math.sin(turn + 2 * math.pi * k / sides),
        )
        for k in range(sides)
    ]


def _star() -> list[tuple[float, float]]:
    points = []
    for k in range(10):
        radius = 1.0 if k % 2 == 0 else 0.45
        angle = -math.pi / 2 + math.pi * k / 5
        points.append((radius * math.cos(angle), radius * math.sin(angle)))
    return points


def _heart() -> list[tuple[float, float]]:
    points = []
    for k in range(CIRCLE_POINTS):
        t = 2 * math.pi * k / CIRCLE_POINTS
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        points.append((x / 17.0, -(y + 2.5) / 17.0))
    return points


def _cross() -> list[tuple[float, float]]:
    arm, half = 0.9, 0.3
    return [
        (-half, -arm), (half, -arm), (half, -half), (arm, -half), (arm, half), (half, half),
        (half, arm), (-half, arm), (-half, half), (-arm, half), (-arm, -half), (-half, -half),
    ]  # fmt: skip


@cache
def outline(kind: str) -> tuple[tuple[float, float], ...]:
    """The shape's polygon in radius units (a circle is a fine polygon too)."""
    if kind == "circle":
        points = _regular(CIRCLE_POINTS, 0.85, 0.0)
    elif kind == "square":
        points = [(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)]
    elif kind == "triangle":
        points = [(x, y + 0.15) for x, y in _regular(3, 1.0, -math.pi / 2)]
    elif kind == "star":
        points = _star()
    elif kind == "heart":
        points = _heart()
    elif kind == "cross":
        points = _cross()
    elif kind == "diamond":
        points = [(0.0, -1.0), (0.62, 0.0), (0.0, 1.0), (-0.62, 0.0)]
    else:
        raise KeyError(kind)
    return tuple(points)


@cache
def extent(kind: str) -> float:
    """The farthest reach of the outline from the centre, in radius units."""
    return max(math.hypot(x, y) for x, y in outline(kind))


def position_of(x: float, y: float, width: int, height: int) -> str:
    """The position word for a centre at pixel (x, y): the nearest anchor."""
    fx, fy = x / width, y / height
    return min(ANCHORS, key=lambda name: math.hypot(fx - ANCHORS[name][0], fy - ANCHORS[name][1]))


def inside(x: float, y: float, reach: float, width: int, height: int) -> bool:
    return (
        x - reach >= EDGE_MARGIN
        and y - reach >= EDGE_MARGIN
        and x + reach <= width - EDGE_MARGIN
        and y + reach <= height - EDGE_MARGIN
    )


def apart(a: tuple[float, float, float], b: tuple[float, float, float], gap: float) -> bool:
    """Whether two discs (x, y, reach) stand at least `gap` apart."""
    return math.hypot(a[0] - b[0], a[1] - b[1]) >= a[2] + b[2] + gap


def jittered(
    rng: np.random.Generator, position: str, width: int, height: int, jitter: float = JITTER
) -> tuple[float, float]:
    ax, ay = ANCHORS[position]
    dx, dy = rng.uniform(-jitter, jitter, size=2)
    return (ax + float(dx)) * width, (ay + float(dy)) * height
