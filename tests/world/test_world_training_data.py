"""The world captioner's training items (tests/fixtures/world_training.py): made the
same way in parallel, and what the tower is told each patch of a photo shows."""

from __future__ import annotations

import numpy as np

from models.world.photos import PhotoOptions, make_photo
from models.world.vocab import COLOUR_NAMES, SHAPE_NAMES
from tests.fixtures.world_training import label_grid, make_photos

SIDE = 16


def test_each_shape_labels_the_patches_it_covers_and_says_whether_it_shines() -> None:
    seen_shiny = seen_matte = 0
    for index in range(30):
        truth = make_photo(5, index, PhotoOptions(shiny_rate=0.5)).truth
        grid = label_grid(truth, SIDE)
        assert grid.shape == (3, SIDE, SIDE)
        background = grid[0] == 0
        assert ((grid[1] == 0) == background).all() and ((grid[2] == 0) == background).all()
        for s in truth.shapes:
            cx = min(SIDE - 1, int(s.x / truth.width * SIDE))
            cy = min(SIDE - 1, int(s.y / truth.height * SIDE))
            # A shape's centre patch is its own (shapes never overlap).
            assert grid[0, cy, cx] == 1 + SHAPE_NAMES.index(s.kind)
            assert grid[1, cy, cx] == 1 + COLOUR_NAMES.index(s.colour)
            assert grid[2, cy, cx] == (2 if s.shiny else 1)
            seen_shiny += s.shiny
            seen_matte += not s.shiny
        assert np.isin(grid[2], (0, 1, 2)).all()
    assert seen_shiny and seen_matte


def test_photos_made_in_parallel_are_the_same_items_in_the_same_order() -> None:
    options = PhotoOptions(shiny_rate=0.3)
    alone, parallel = make_photos(7, 24, 64, options), make_photos(7, 24, 64, options, workers=2)
    for a, b in [(alone.photos, parallel.photos), (alone.heldout_photos, parallel.heldout_photos)]:
        assert [p.truth for p in a] == [p.truth for p in b]
        assert all(np.array_equal(p.pixels, q.pixels) for p, q in zip(a, b, strict=True))
        assert all(np.array_equal(p.grid, q.grid) for p, q in zip(a, b, strict=True))
    assert alone.photos and alone.heldout_photos
