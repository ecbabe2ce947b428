"""The world's answer scorer: right answers score right, and each kind of mistake fails."""

from __future__ import annotations

import json

from models.world.photos import make_photo
from models.world.score import moment_right, named_shapes, score_photo, tags_f1
from models.world.truth import answer_json
from models.world.videos import make_video


def test_the_truths_own_answers_score_right() -> None:
    for index in range(60):
        truth = make_photo(3, index).truth
        score = score_photo(truth, answer_json(truth))
        assert score.parsed and score.shapes and score.positions and score.tags_f1 == 1.0


def test_each_mistake_fails() -> None:
    truth = make_photo(3, 0).truth
    first = truth.shapes[0]
    answer = json.loads(answer_json(truth))
    other_colour = "blue" if first.colour != "blue" else "red"
    wrong = {**answer, "caption": answer["caption"].replace(first.colour, other_colour, 1)}
    assert not score_photo(truth, json.dumps(wrong)).shapes
    extra = {**answer, "caption": answer["caption"][:-1] + " and a small black star at the top."}
    assert not score_photo(truth, json.dumps(extra)).shapes
    assert not score_photo(truth, '{"caption": "cut off').parsed
    assert score_photo(truth, "[1, 2]").parsed is False


def test_named_shapes_reads_sizes_shiny_and_positions() -> None:
    named = named_shapes("A large shiny red circle on the left and a small blue star.")
    assert [(n.colour, n.shape, n.position, n.shiny) for n in named] == [
        ("red", "circle", "left", True),
        ("blue", "star", None, False),
    ]


def test_tags_f1() -> None:
    assert tags_f1(["red", "circle"], ["red", "circle"]) == 1.0
    assert tags_f1(["red"], ["red", "circle"]) == 2 / 3
    assert tags_f1([], ["red"]) == 0.0


def test_a_moment_near_a_cut_may_show_either_scene() -> None:
    truth = make_video(3, 0).truth
    cut = truth.cuts[0]
    before, after = truth.scenes[0].caption, truth.scenes[1].caption
    assert moment_right(truth, cut + 0.1, before)
    assert moment_right(truth, cut + 0.1, after)
    assert not moment_right(truth, cut + 0.8, before) or before == after
    assert moment_right(truth, cut + 0.8, after)
