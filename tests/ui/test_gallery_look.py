"""The grid a photographer expects: cells spread across the full width at every zoom, a
search match marked and kept in sight in the cell's two lines, review state shown by a
glyph and in words (not colour alone), and queued badges that say when a model is missing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.gallery import GalleryRow
from app.ui.gallery.delegate import _status, caption_badge
from app.ui.gallery.model import _tooltip
from app.ui.gallery.snippet import ELLIPSIS, Word, lay_out, words_of
from app.ui.gallery.view import MAX_SIDE, MIN_SIDE, justified_width
from app.ui.window.main_window import MainWindow
from app.ui.words import set_waiting_for_model
from tests.ui.test_main_window import window_with

PHOTOS = {f"p{n}.jpg": "astronaut" for n in range(6)}


def letters(word: Word) -> int:
    """A stand-in width: 10 px a letter (bold the same: the layout is what is tested)."""
    return 10 * len(word.text)


def test_justified_width_spreads_whole_cells() -> None:
    assert justified_width(200, 1000) == 200  # five fit exactly
    assert justified_width(200, 1150) == 230  # five, 30 px each to spare
    assert justified_width(200, 150) == 200  # narrower than one: one column
    for cell in range(100, 400, 37):
        for room in range(cell, 2000, 91):
            width = justified_width(cell, room)
            columns = room // width
            assert width >= cell and room - columns * width < columns + 1


@pytest.mark.parametrize("side", [MIN_SIDE, 176, MAX_SIDE])
def test_the_grid_leaves_no_dead_space_on_the_right(
    qtbot: QtBot, open_window: Callable[[], MainWindow], tmp_path: Path, side: int
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "photos", PHOTOS)
    window.resize(1400, 800)
    window.gallery.set_thumbnail_side(side)
    QApplication.processEvents()
    view = window.gallery
    qtbot.waitUntil(
        lambda: view.gridSize().width() == justified_width(view._cell_width(), view._room()),
        timeout=5000,
    )
    columns = view._room() // view.gridSize().width()
    dead = view.viewport().width() - columns * view.gridSize().width()
    assert dead <= columns + 2, f"{dead} px unused at side {side}"


def test_words_of_keeps_marks_on_words() -> None:
    words = words_of("a «red» bicycle by the «sea»side")
    assert [w.text for w in words] == ["a", "red", "bicycle", "by", "the", "seaside"]
    assert [w.marked for w in words] == [False, True, False, False, False, True]


def test_a_match_past_the_second_line_is_brought_into_sight() -> None:
    text = " ".join(f"w{n}" for n in range(40)) + " «beach» and more words after it"
    lines = lay_out(words_of(text), letters, 10, 200, 2)
    shown = [w for line in lines for w in line]
    assert len(lines) == 2
    assert shown[0].text == ELLIPSIS and any(w.marked and w.text == "beach" for w in shown)
    for line in lines:
        assert sum(letters(w) for w in line) + 10 * (len(line) - 1) <= 200


def test_plain_text_wraps_and_ends_with_an_ellipsis() -> None:
    text = "a long caption that does not fit in two short lines of the cell at all"
    lines = lay_out(words_of(text), letters, 10, 120, 2)
    assert len(lines) == 2 and lines[0][0].text == "a" and lines[-1][-1].text == ELLIPSIS
    assert lay_out(words_of("short"), letters, 10, 120, 2) == [(Word("short", False),)]


def row(**changes: object) -> GalleryRow:
    base = GalleryRow(
        id=1, path="/p/a.jpg", name="a.jpg", kind="photo", size=1, mtime_ns=1, width=1,
        height=1, duration=None, taken_at=None, state="ok", error=None, caption="A cat",
        tags=(), source="model", reviewed=False, job=None, job_error=None,
    )  # fmt: skip
    return replace(base, **changes)


def test_review_state_has_a_glyph_and_words_not_only_a_colour() -> None:
    review, reviewed, mine = row(), row(reviewed=True), row(source="user")
    labels = {caption_badge(r)[0] for r in (review, reviewed, mine)}  # type: ignore[index]
    assert labels == {"AI ?", "AI ✓", "✎ Me"}
    assert "not reviewed" in _tooltip(review)
    assert "reviewed" in _tooltip(reviewed) and "not" not in _tooltip(reviewed).split(":")[-1]
    assert "your own caption" in _tooltip(mine)
    assert caption_badge(row(source=None, caption=None)) is None


def test_queued_badges_say_when_there_is_no_model() -> None:
    queued = row(job="queued", source=None, caption=None)
    try:
        set_waiting_for_model(True)
        assert _status(queued)[0] == "Waiting for a model"  # type: ignore[index]
        set_waiting_for_model(False)
        assert _status(queued)[0] == "Queued"  # type: ignore[index]
    finally:
        set_waiting_for_model(False)
