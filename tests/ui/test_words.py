"""One plural rule, display names for models, and the queued badge's words."""

from __future__ import annotations

import re
from pathlib import Path

from app.ui.words import (
    QUEUED,
    WAITING_FOR_MODEL,
    counted,
    model_name,
    queued_badge,
    set_waiting_for_model,
)

APP = Path(__file__).resolve().parents[2] / "app"
# Another engineer's area still has two; this test keeps the rest free of them.
NOT_YET: set[Path] = set()


def test_counted_reads_like_the_window() -> None:
    assert counted(1, "item") == "1 item"
    assert counted(14, "item") == "14 items"
    assert counted(1234, "file") == "1,234 files"


def test_models_are_named_by_their_display_name() -> None:
    assert model_name("smolvlm2-500m") == "SmolVLM2 500M Video"
    assert model_name("my-own-model") == "my-own-model"


def test_queued_badge_says_why_nothing_happens_without_a_model() -> None:
    try:
        assert queued_badge() == QUEUED
        assert set_waiting_for_model(True)
        assert not set_waiting_for_model(True)  # no change, nothing to repaint
        assert queued_badge() == WAITING_FOR_MODEL == "Waiting for a model"
    finally:
        set_waiting_for_model(False)
    assert queued_badge() == QUEUED


def test_no_parenthesised_plurals_in_messages() -> None:
    pattern = re.compile(r"\s[a-z]+\(s\)")  # "item(s)", not a call like "read(s)"
    found = [
        f"{path.relative_to(APP)}:{n}"
        for path in APP.rglob("*.py")
        if path not in NOT_YET
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
