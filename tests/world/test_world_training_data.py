"""The world captioner's training items (tests/fixtures/world_training.py): made the
same way in parallel, and what the tower is told each patch of a photo shows."""

from __future__ import annotations

import math

import numpy as np

from models.world.geometry import ANCHORS
from models.world.photos import ROAMING, SHINY_OPTIONS, PhotoOptions, make_photo
from models.world.truth import answer_json, photo_caption, reading_order
from models.world.vocab import COLOUR_NAMES, POSITION_NAMES, SHAPE_NAMES
from tests.fixtures.world_training import (
    IGNORE,
    Schedule,
    Tokens,
    aux_loss,
    aux_targets,
    label_grid,
    make_aux_heads,
    make_photos,
    shine_marks,
    unworded,
    where_seen,
)
from tests.world_support import WORLD_MODEL

SIDE = 16


def test_each_shape_labels_the_patches_it_covers_and_says_whether_it_shines() -> None:
    seen_shiny = seen_matte = 0
    for index in range(30):
        truth = make_photo(5, index, SHINY_OPTIONS).truth
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


def test_roaming_photos_teach_the_tower_per_patch_but_not_per_position() -> None:
    """A roaming photo's shapes may lie anywhere around a position's window, so the
    position heads learn nothing from it (no NaN either, when a batch is all roaming);
    the per-patch head learns from it as from any photo."""
    import torch

    roaming = make_photos(7, 12, 64, ROAMING)
    anchored = make_photos(7, 12, 64, PhotoOptions())
    roaming_items = roaming.photos + roaming.heldout_photos
    assert not any(p.anchored for p in roaming_items)
    assert all(p.anchored for p in anchored.photos + anchored.heldout_photos)

    def gradients(items) -> tuple[float, float]:
        heads, sizes = make_aux_heads(16)
        grid = torch.randn(len(items), 8, 8, 16, generator=torch.Generator().manual_seed(0))
        labels, dense = aux_targets(items)
        loss = aux_loss(heads, sizes, grid, labels, dense)
        assert torch.isfinite(loss)
        loss.backward()
        positions = sum(float(heads[p].weight.grad.abs().sum()) for p in range(len(POSITION_NAMES)))
        return positions, float(heads[len(POSITION_NAMES)].weight.grad.abs().sum())

    assert (aux_targets(roaming_items)[0] == IGNORE).all()
    positions, patches = gradients(roaming_items)
    assert positions == 0.0 and patches > 0.0
    positions, patches = gradients(anchored.photos)
    assert positions > 0.0 and patches > 0.0


def test_shiny_photos_are_captioned_unworded_and_marked_where_shiny_would_go() -> None:
    """The language model sees highlights without hearing "shiny": the answer names
    every shape as a matte one would be named, and each shape's size word is marked
    (with its shine) where a caption that named the highlight would say "shiny" next."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(WORLD_MODEL / "hf" / "tokenizer.model"))
    tokens = Tokens(sp.encode, 0, 0, 0, 0, 0, "<end_of_utterance>", "", "<s>")
    seen = {0: 0, 1: 0}
    for index in range(40):
        truth = make_photo(11, index, SHINY_OPTIONS).truth
        answer = answer_json(unworded(truth))
        assert "shiny" not in answer
        assert answer == answer_json(truth).replace(" shiny", "").replace(', "shiny"', "")
        marks = shine_marks(tokens, answer, truth)
        assert len(marks) == len(truth.shapes)
        ids = sp.encode(answer)
        for (at, label), shape in zip(marks, reading_order(truth.shapes), strict=True):
            assert sp.decode(ids[at : at + 1]).strip() == shape.size  # the word's last token
            assert label == shape.shiny
            seen[label] += 1
    assert seen[0] and seen[1]
    tags_only = '{"caption": "red, circle", "tags": ["red", "circle"]}'
    assert shine_marks(tokens, tags_only, truth) == []


def test_the_shine_head_joins_half_way_and_ramps_up() -> None:
    schedule = Schedule(steps=2000, shine_weight=0.3, shine_ramp=200)
    assert schedule.shine_factor(0) == schedule.shine_factor(999) == 0.0
    assert 0.0 < schedule.shine_factor(1000) < schedule.shine_factor(1100) < 0.3
    assert schedule.shine_factor(1199) == schedule.shine_factor(1999) == 0.3


def test_roaming_photos_in_photo_steps_name_the_anchor_each_shape_is_nearest_to() -> None:
    moved = 0
    for index in range(40):
        truth = make_photo(5, index, ROAMING).truth
        seen = where_seen(truth)
        for before, after in zip(truth.shapes, seen.shapes, strict=True):
            fx, fy = after.x / truth.width, after.y / truth.height
            distance = {n: math.hypot(fx - x, fy - y) for n, (x, y) in ANCHORS.items()}
            assert distance[after.position] == min(distance.values())
            moved += after.position != before.position
        assert seen.caption == photo_caption(seen.shapes)
        assert sorted(seen.tags) == sorted(truth.tags)  # the same words, maybe reordered
    assert moved  # some had strayed nearer another anchor than their own
