"""Train / held-out: each item's split is a pure function of (seed, kind, index).

Drawn from a random stream of its own, so an item's split never depends on how many
items are made, nor on the options (a curriculum keeps its held-out items held out).
"""

from __future__ import annotations

import numpy as np

SPLIT_STREAM = 9
KINDS = {"photo": 1, "video": 2}
HELDOUT_FRACTION = 0.2
TRAIN, HELDOUT = "train", "heldout"


def split_of(seed: int, kind: str, index: int, heldout: float = HELDOUT_FRACTION) -> str:
    """TRAIN or HELDOUT for item `index` of `kind` ("photo" or "video")."""
    draw = np.random.default_rng([seed, SPLIT_STREAM, KINDS[kind], index]).random()
    return HELDOUT if draw < heldout else TRAIN
