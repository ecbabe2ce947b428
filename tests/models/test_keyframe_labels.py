"""A video's keyframes are labelled once, the same in the prompt and in the answer."""

from __future__ import annotations

from models.prompts import build_messages, builtin_prompts, keyframe_labels


def test_labels_are_tenths_of_a_second_unless_two_would_be_the_same() -> None:
    assert keyframe_labels([0.0, 2.5, 12.34]) == ["0.0s", "2.5s", "12.3s"]
    assert keyframe_labels([1.0, 1.04, 7.0]) == ["1.00s", "1.04s", "7.00s"]
    assert keyframe_labels([1.0, 1.001]) == ["1.000s", "1.001s"]
    # a file whose frames all claim one time (a broken index) still gets distinct keys
    assert keyframe_labels([3.0, 3.0, 3.0]) == ["3.0s #1", "3.0s #2", "3.0s #3"]
    assert keyframe_labels([]) == []


def test_the_prompt_puts_each_label_before_its_frame() -> None:
    messages = build_messages(
        builtin_prompts()["short"], ["a", "b", "c"], language="English", timestamps=[1.0, 1.04, 7]
    )
    parts = messages[0]["content"]
    labels = [p["text"] for p in parts if p["type"] == "text"][1:-1]
    assert labels == ["[1.00s]", "[1.04s]", "[7.00s]"]
    after = [parts[i + 1]["image_url"]["url"] for i, p in enumerate(parts) if p in parts[1:-1:2]]
    assert after == ["a", "b", "c"]
