"""Reading the model's JSON answer, whole or cut off."""

from __future__ import annotations

import pytest

from models.answer import AnswerError, parse_answer


def test_complete_answer_is_cleaned() -> None:
    raw = '{"caption": "A dog\\u0007 on the\\n beach", "tags": ["Dog", "dog", " beach ", ""],'
    raw += ' "language": "en"}'
    answer = parse_answer(raw)
    assert answer.caption == "A dog on the beach"
    assert answer.tags == ["dog", "beach"]
    assert answer.language == "en" and answer.complete


def test_raw_control_characters_inside_strings_are_accepted() -> None:
    answer = parse_answer('{"caption": "tab\there", "tags": [], "language": ""}')
    assert answer.caption == "tab here" and answer.language is None


def test_cut_off_answer_keeps_the_caption_so_far() -> None:
    answer = parse_answer(
        '{"caption": "A red car parked by the \\"old\\" mill", "tags": ["car", "re'
    )
    assert answer.caption == 'A red car parked by the "old" mill'
    assert answer.tags == ["car"] and not answer.complete


def test_moments_are_counted() -> None:
    whole = parse_answer(
        '{"caption": "x", "tags": [], "language": "en", "moments": ["a", "b"]}', moments=2
    )
    assert whole.moments == ["a", "b"] and whole.complete
    short = parse_answer(
        '{"caption": "x", "tags": [], "language": "en", "moments": ["a"]}', moments=2
    )
    assert not short.complete


@pytest.mark.parametrize("raw", ["", "{", '{"caption": ""}', '{"tags": ["a"]', "[1, 2]", "null"])
def test_no_caption_is_an_error(raw: str) -> None:
    with pytest.raises(AnswerError):
        parse_answer(raw)
