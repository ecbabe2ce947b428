"""The shapes world's photos: deterministic, unambiguous, and their truth is the answer."""

from __future__ import annotations

import io
import itertools
import math
import re

import numpy as np
import pytest
from PIL import Image

from models.answer import parse_answer
from models.prompts import TAG_MAX_CHARS, AnswerLimits, builtin_prompts
from models.world.draw import BACKGROUNDS, Placed, shape_mask
from models.world.geometry import ANCHORS, JITTER, position_of
from models.world.photos import CANVASES, ROAMING, LayoutError, Photo, PhotoOptions, make_photo
from models.world.truth import answer_json
from models.world.vocab import (
    COLOUR_NAMES,
    COLOURS,
    POSITION_NAMES,
    RESERVED_WORDS,
    SHAPE_NAMES,
    SIZE_NAMES,
    colour,
    colour_words,
    position_words,
    shape_words,
)

SEED = 16
COUNT = 160


@pytest.fixture(scope="module")
def photos() -> list[Photo]:
    return [make_photo(SEED, index) for index in range(COUNT)]


def test_same_seed_same_bytes_and_truth() -> None:
    formats = set()
    for index in range(12):
        a, b = make_photo(SEED, index), make_photo(SEED, index)
        formats.add(a.truth.format)
        assert a.truth == b.truth
        assert a.encoded() == b.encoded()  # Pillow's PNG and JPEG writers are deterministic
    assert formats == {"png", "jpeg"}
    assert make_photo(SEED, 3).truth != make_photo(SEED + 1, 3).truth


def test_an_item_does_not_depend_on_the_others() -> None:
    assert make_photo(SEED, 40).truth == make_photo(SEED, 40).truth
    assert make_photo(SEED, 40).truth.id == "photo-000040"


def test_the_file_decodes_to_its_size_and_format(photos: list[Photo]) -> None:
    for photo in photos[:10]:
        image = Image.open(io.BytesIO(photo.encoded()))
        assert image.size == (photo.truth.width, photo.truth.height)
        assert image.format == {"png": "PNG", "jpeg": "JPEG"}[photo.truth.format]
        if photo.truth.format == "png":
            assert np.array_equal(np.asarray(image.convert("RGB")), photo.pixels)


def test_colours_are_far_apart() -> None:
    for a, b in itertools.combinations(COLOURS, 2):
        assert math.dist(a.rgb, b.rgb) >= 100, (a.name, b.name)


def silhouette(kind: str, across: int, down: int) -> np.ndarray:
    """The shape's coverage (0..1) as the model's tile shows it: drawn with a radius of
    `down` pixels, then squeezed to `across` pixels wide (a wide photo is stretched
    to the square tile in height, so its shapes come out narrow)."""
    canvas = np.zeros((40, 40), np.uint8)
    mask, x0, y0 = shape_mask(Placed(kind, "black", 20.0, 20.0, float(down)), 40, 40)
    canvas[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]] = mask
    squeezed = Image.fromarray(canvas).resize((round(40 * across / down), 40), Image.Resampling.BOX)
    return np.asarray(squeezed, np.float32) / 255


@pytest.mark.parametrize(("across", "down"), [(7, 7), (7, 13)])
def test_shapes_differ_at_the_size_the_model_sees(across: int, down: int) -> None:
    # The smallest shape spans about 7 tile pixels on a 384x216 photo (radius 0.10 of
    # the short side, squeezed 216/384). Why it matters: the comment on vocab.SHAPES.
    shapes = {kind: silhouette(kind, across, down) for kind in SHAPE_NAMES}
    for a, b in itertools.combinations(SHAPE_NAMES, 2):
        differ = np.abs(shapes[a] - shapes[b]).sum() / np.maximum(shapes[a], shapes[b]).sum()
        assert differ >= 0.12, (a, b, differ)  # circle and square: 0.15


def test_every_value_occurs(photos: list[Photo]) -> None:
    shapes = [s for p in photos for s in p.truth.shapes]
    assert {s.colour for s in shapes} == set(COLOUR_NAMES)
    assert {s.kind for s in shapes} == set(SHAPE_NAMES)
    assert {s.size for s in shapes} == set(SIZE_NAMES)
    assert {s.position for s in shapes} == set(POSITION_NAMES)
    assert {len(p.truth.shapes) for p in photos} == {1, 2, 3}
    assert {p.truth.background["kind"] for p in photos} == set(BACKGROUNDS)
    assert {(p.truth.width, p.truth.height) for p in photos} == set(CANVASES)
    assert {p.truth.format for p in photos} == {"png", "jpeg"}


def assert_apart_and_inside(photo: Photo) -> None:
    t = photo.truth
    cover = np.zeros((t.height, t.width), np.int32)
    for s in t.shapes:
        mask, x0, y0 = shape_mask(Placed(s.kind, s.colour, s.x, s.y, s.radius), 10**4, 10**4)
        assert x0 >= 0 and y0 >= 0, "clipped by the image's edge"
        assert x0 + mask.shape[1] <= t.width and y0 + mask.shape[0] <= t.height
        cover[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]] += mask > 0
    assert cover.max() == 1, t.id
    assert len({s.position for s in t.shapes}) == len(t.shapes)
    assert len({(s.kind, s.colour) for s in t.shapes}) == len(t.shapes)


def test_shapes_never_overlap_and_stay_inside(photos: list[Photo]) -> None:
    for photo in photos:
        assert_apart_and_inside(photo)


def strays(photos: list[Photo]) -> list[float]:
    """How far each shape's centre is from the nearest anchor (a share of the frame)."""
    return [
        min(
            math.hypot(s.x / p.truth.width - x, s.y / p.truth.height - y)
            for x, y in ANCHORS.values()
        )
        for p in photos
        for s in p.truth.shapes
    ]


def test_roaming_photos_place_shapes_anywhere(photos: list[Photo]) -> None:
    """A wide jitter (photos asking whether a model sees shapes anywhere, as videos do) spreads
    the shapes over the frame, still apart and inside; the default keeps them near the
    five anchors."""
    roaming = [make_photo(SEED, index, ROAMING) for index in range(COUNT)]
    for photo in roaming:
        assert_apart_and_inside(photo)
    assert max(strays(photos)) <= JITTER * math.sqrt(2)
    far = [d > 2 * JITTER for d in strays(roaming)]
    assert sum(far) / len(far) >= 0.5  # measured 0.74


def test_positions_are_read_from_the_centre(photos: list[Photo]) -> None:
    for photo in photos:
        for s in photo.truth.shapes:
            assert position_of(s.x, s.y, photo.truth.width, photo.truth.height) == s.position


def test_each_shape_is_drawn_in_its_colour(photos: list[Photo]) -> None:
    """The pixel at a shape's centre is its colour (JPEG within a small error)."""
    for photo in photos[:40]:
        decoded = np.asarray(Image.open(io.BytesIO(photo.encoded())).convert("RGB"), np.int32)
        for s in photo.truth.shapes:
            if s.kind == "star":
                continue  # the arms' inner corners leave little around the centre
            seen = decoded[round(s.y), round(s.x)]
            assert np.abs(seen - colour(s.colour).rgb).max() <= 24, (photo.truth.id, s)


def test_the_canonical_caption_names_every_shape(photos: list[Photo]) -> None:
    for photo in photos:
        t = photo.truth
        for s in t.shapes:
            assert f"{s.size} {s.colour} {s.kind} {position_words(s.position)[0]}" in t.caption
        expected_tags = {w for s in t.shapes for w in (s.colour, s.kind)}
        assert set(t.tags) == expected_tags
        assert len(t.tags) == len(expected_tags)


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE) for w in words)


def test_paraphrases_differ_and_keep_the_meaning(photos: list[Photo]) -> None:
    for photo in photos:
        t = photo.truth
        assert len(t.paraphrases) == 4
        assert len(set(t.paraphrases)) == 4 and t.caption not in t.paraphrases
        for text in t.paraphrases:
            for s in t.shapes:
                assert _mentions(text, colour_words(s.colour)), (text, s)
                assert _mentions(text, shape_words(s.kind)), (text, s)
                assert _mentions(text, position_words(s.position)), (text, s)


def test_the_base_world_never_says_the_reserved_words(photos: list[Photo]) -> None:
    for photo in photos:
        t = photo.truth
        for text in (t.caption, *t.paraphrases, *t.tags):
            assert not _mentions(text, RESERVED_WORDS), text
        assert not any(s.shiny for s in t.shapes)


def test_the_truth_is_the_engines_answer(photos: list[Photo]) -> None:
    limits = AnswerLimits()
    alt_text = builtin_prompts()["alt-text"].caption_chars
    assert alt_text is not None
    for photo in photos:
        t = photo.truth
        answer = parse_answer(answer_json(t))
        assert answer.complete
        assert (answer.caption, answer.tags, answer.language) == (
            t.caption,
            list(t.tags),
            "English",
        )
        assert len(t.caption) <= alt_text <= limits.caption_chars
        assert len(answer.tags) <= 6 <= limits.max_tags  # also within alt text's "up to 6"
        assert all(len(tag) <= TAG_MAX_CHARS for tag in answer.tags)


def test_shiny_shapes_have_a_highlight_and_say_so() -> None:
    """Same photo as without shine (the draw is made either way), with a highlight."""
    options = PhotoOptions(shiny_rate=1.0)
    for index in range(10):
        shiny, plain = make_photo(SEED, index, options), make_photo(SEED, index)
        assert all(s.shiny for s in shiny.truth.shapes)
        assert "shiny" in shiny.truth.caption and shiny.truth.tags[-1] == "shiny"
        assert [(s.kind, s.x) for s in shiny.truth.shapes] == [
            (s.kind, s.x) for s in plain.truth.shapes
        ]
        for s in shiny.truth.shapes:
            spot = shiny.pixels[round(s.y - 0.3 * s.radius), round(s.x - 0.3 * s.radius)]
            assert int(spot.astype(int).sum()) > sum(colour(s.colour).rgb) + 150
        assert parse_answer(answer_json(shiny.truth)).tags == list(shiny.truth.tags)


def test_a_curriculum_narrows_the_world() -> None:
    options = PhotoOptions(
        counts=(1,), count_weights=(1.0,), sizes=("large",), positions=("centre",)
    )
    for index in range(10):
        (shape,) = make_photo(SEED, index, options).truth.shapes
        assert (shape.size, shape.position) == ("large", "centre")
    with pytest.raises(LayoutError):
        make_photo(SEED, 0, PhotoOptions(counts=(3,), count_weights=(1.0,), positions=("left",)))
