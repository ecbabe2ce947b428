"""Learning from corrections in the shapes world, through the product's own paths.

The user renames circles "disc" on held-out photos in the library, "fine-tune on my
corrections" runs (the real training process, LoRA, from the world model's original
weights), and the worker captions other held-out photos with the adapter applied by
llama.cpp (tests/world_corrections.py has the steps). The assertions are about what
the captions say: the base model never says "disc"; after the fine-tune it says it of
circles it never saw, and seldom of photos without one.

The bounds are this model's, with a margin below what bench_world_corrections.py
measures on more photos (see the bounds below); the issue's own bounds (80 % of circle
photos, at most 5 points lost elsewhere) are printed by that benchmark.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.world_corrections import RENAME, Settings, run

pytestmark = pytest.mark.slow
EVALUATED = 24  # half with circles, half without
# bench_world_corrections.py on 50 + 50 photos: "disc" in 0.98 of circle photos after
# (0 before), in 0.02 of the others; the others' accuracy 0.96 -> 0.92.
SAYS_DISC_AFTER = 0.7
OTHERS_SAYING_DISC = 0.2  # measured none of the 12 here
OTHERS_RIGHT_DROP = 0.25  # measured one of the 12 photos here


def test_renaming_circles_to_disc_reaches_circles_the_fine_tune_never_saw(
    tmp_path: Path,
) -> None:
    outcome = run(tmp_path, RENAME, Settings(evaluated=EVALUATED))
    figures = outcome.figures
    assert not outcome.errors, outcome.errors
    assert figures["circle photos saying disc (before)"] == 0.0
    assert figures["circle photos saying disc (after)"] >= SAYS_DISC_AFTER, outcome.examples
    assert figures["other photos saying disc (after)"] <= OTHERS_SAYING_DISC, outcome.after
    drop = figures["other photos right (before)"] - figures["other photos right (after)"]
    assert drop <= OTHERS_RIGHT_DROP, figures
