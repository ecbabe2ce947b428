"""Learning from corrections in the shapes world, through the product's own paths.

The user renames circles "disc" on held-out photos in the library, "fine-tune on my
corrections" runs (the real training process, LoRA, from the world model's original
weights), and the worker captions other held-out photos with the adapter applied by
llama.cpp (tests/world_corrections.py has the steps). The assertions are about what
the captions say: the base model never says "disc"; after the fine-tune it says it of
circles it never saw, and seldom of photos without one. A second kind of correction adds
"shiny" to shapes drawn with a highlight: afterwards it is said of shapes that shine far
more often than of those that do not.

The bounds are this model's, with a margin below what bench_world_corrections.py
measures on more photos (see the bounds below); the issue's own bounds (80 % of circle
photos, at most 5 points lost elsewhere) are printed by that benchmark.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.world.photos import SHINY_OPTIONS, make_photo
from tests.world_corrections import (
    RENAME,
    SHINY,
    Outcome,
    Settings,
    caption_figures,
    run,
)

EVALUATED = 24  # half with circles, half without
# bench_world_corrections.py on 50 + 50 photos: "disc" in 0.94 of circle photos after
# (0 before), in none of the others; the others' accuracy 0.98 -> 0.96.
SAYS_DISC_AFTER = 0.7
OTHERS_SAYING_DISC = 0.2  # measured none of the 12 here
OTHERS_RIGHT_DROP = 0.25  # measured one of the 12 photos here
# bench_world_corrections.py on 60 photos, per shape the captions name: "shiny" said of
# 0.88 of the shapes with a highlight after, of 0.30 of those without (0 and 0 before;
# earlier models: 0.87 and 0.33, 0.84 and 0.24, 0.97 and 0.33).
SHINY_CALLED_SHINY = 0.7
MATTE_CALLED_SHINY = 0.6
SHINE_TOLD_APART = 0.3  # the first share minus the second


def fine_tuned(tmp_path: Path, kind: str, never_said: str) -> Outcome:
    """The experiment's outcome, once every photo was captioned and the base model was
    seen never to say the new word (`never_said`: the figure that counts it)."""
    outcome = run(tmp_path, kind, Settings(evaluated=EVALUATED))
    assert not outcome.errors, outcome.errors
    assert outcome.figures[f"{never_said} (before)"] == 0.0
    return outcome


@pytest.mark.slow
def test_renaming_circles_to_disc_reaches_circles_the_fine_tune_never_saw(
    tmp_path: Path,
) -> None:
    outcome = fine_tuned(tmp_path, RENAME, never_said="circle photos saying disc")
    figures = outcome.figures
    assert figures["circle photos saying disc (after)"] >= SAYS_DISC_AFTER, outcome.examples
    assert figures["other photos saying disc (after)"] <= OTHERS_SAYING_DISC, outcome.after
    drop = figures["other photos right (before)"] - figures["other photos right (after)"]
    assert drop <= OTHERS_RIGHT_DROP, figures


@pytest.mark.slow
def test_shiny_is_learnt_from_twenty_corrections_and_said_of_the_shapes_that_shine(
    tmp_path: Path,
) -> None:
    outcome = fine_tuned(tmp_path, SHINY, never_said="shiny photos saying shiny")
    figures = outcome.figures
    shiny, matte = (
        figures["shiny shapes called shiny (after)"],
        figures["matte shapes called shiny (after)"],
    )
    assert shiny >= SHINY_CALLED_SHINY, outcome.after
    assert matte <= MATTE_CALLED_SHINY, outcome.after
    assert shiny - matte >= SHINE_TOLD_APART, figures


def test_shine_is_scored_per_shape_the_caption_names() -> None:
    """The shiny experiment's per-shape figures: "shiny" said of the shapes with a
    highlight and only of them scores 1 and 0; said of none, 0 and 0; said of every
    shape, 1 and 1; a shape the caption does not name is not counted."""
    photos = [(Path(f"{i}.png"), make_photo(5, i, SHINY_OPTIONS).truth) for i in range(30)]
    truths = [t for _, t in photos]

    def figures(captions: list[str]) -> tuple[float, float]:
        got = caption_figures(SHINY, photos, captions)
        return got["shiny shapes called shiny"], got["matte shapes called shiny"]

    assert figures([t.caption for t in truths]) == (1.0, 0.0)
    plain = [t.caption.replace("shiny ", "") for t in truths]
    assert figures(plain) == (0.0, 0.0)
    every = [c.replace("small ", "small shiny ").replace("large ", "large shiny ") for c in plain]
    assert figures(every) == (1.0, 1.0)
    assert figures(["A small shiny white hexagon."] * len(truths)) == (0.0, 0.0)
