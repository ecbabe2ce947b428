"""The shapes world's words: colours, shapes, sizes, positions and their synonyms.

The first word of each entry is canonical (what a model should say and what tags use);
the others are synonyms for paraphrases. Two words are reserved for the issue's
correction experiments and appear nowhere in the base distribution: "disc" (the rename
of "circle" the user teaches) and "shiny" (said only of shapes drawn with a highlight,
which the default options never draw).
"""

from __future__ import annotations

from dataclasses import dataclass

RESERVED_WORDS = ("disc", "shiny")


@dataclass(frozen=True)
class Colour:
    name: str
    rgb: tuple[int, int, int]
    synonyms: tuple[str, ...]


# Saturated hues plus black, at least 100 apart in RGB from each other (a test checks
# it; the closest are red/orange/yellow at ~110), so JPEG and a muted background never
# make one look like another.
COLOURS: tuple[Colour, ...] = (
    Colour("red", (215, 25, 35), ("crimson", "scarlet")),
    Colour("orange", (250, 130, 0), ("tangerine", "amber")),
    Colour("yellow", (245, 235, 40), ("golden", "lemon")),
    Colour("green", (20, 160, 50), ("emerald", "leaf-green")),
    Colour("blue", (30, 70, 230), ("azure", "cobalt")),
    Colour("purple", (140, 40, 190), ("violet", "plum")),
    Colour("pink", (250, 120, 200), ("rose", "fuchsia")),
    Colour("black", (15, 15, 15), ("jet-black", "ebony")),
)

# Outlines that stay apart at the smallest size the world model's 128 px tile shows
# (about 7 pixels across): each differs from every other in at least an eighth of its
# pixels there (a test checks it). A hexagon once stood where the diamond is: it
# differed from a circle in 8 % of its pixels, under a pixel at its edge, and the two
# made half the model's wrong captions.
SHAPES: dict[str, tuple[str, ...]] = {
    "circle": ("round shape", "ring", "dot"),
    "square": ("box", "block"),
    "triangle": ("three-sided shape", "wedge"),
    "star": ("five-pointed star", "starburst"),
    "heart": ("heart shape", "love heart"),
    "cross": ("plus sign", "plus shape"),
    "diamond": ("rhombus", "lozenge"),
}

SIZES: dict[str, tuple[str, ...]] = {
    "small": ("little", "tiny"),
    "large": ("big", "huge"),
}

# Where a shape's centre is. Each phrase reads after the shape ("a red circle on the left").
POSITIONS: dict[str, tuple[str, ...]] = {
    "left": ("on the left", "at the left side", "to the left"),
    "right": ("on the right", "at the right side", "to the right"),
    "top": ("at the top", "near the top", "in the upper part"),
    "bottom": ("at the bottom", "near the bottom", "in the lower part"),
    "centre": ("in the centre", "in the middle", "at the center"),
}

# Video scenes: which way a shape moves (phrases read after the shape).
MOTIONS: dict[str, tuple[str, ...]] = {
    "right": ("moving to the right", "sliding right", "drifting rightwards"),
    "left": ("moving to the left", "sliding left", "drifting leftwards"),
    "up": ("moving up", "rising", "floating upwards"),
    "down": ("moving down", "falling", "sinking downwards"),
}

COLOUR_NAMES: tuple[str, ...] = tuple(c.name for c in COLOURS)
SHAPE_NAMES: tuple[str, ...] = tuple(SHAPES)
SIZE_NAMES: tuple[str, ...] = tuple(SIZES)
POSITION_NAMES: tuple[str, ...] = tuple(POSITIONS)


def colour(name: str) -> Colour:
    for entry in COLOURS:
        if entry.name == name:
            return entry
    raise KeyError(name)


def colour_words(name: str) -> tuple[str, ...]:
    entry = colour(name)
    return (entry.name, *entry.synonyms)


def shape_words(name: str) -> tuple[str, ...]:
    return (name, *SHAPES[name])


def size_words(name: str) -> tuple[str, ...]:
    return (name, *SIZES[name])


def position_words(name: str) -> tuple[str, ...]:
    return POSITIONS[name]


def motion_words(name: str) -> tuple[str, ...]:
    return MOTIONS[name]
