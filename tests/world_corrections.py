"""Learning from corrections, measured in the shapes world, through the product's paths.

One experiment: the world model is installed as the library's caption model; it
captions some held-out photos (`caption --json`, stored as model captions); the user
corrects them in the library (`CaptionStore.add_user_caption`, what the caption editor
calls); "fine-tune on my corrections" runs (`finetune --json`: the real training
process, the original weights from the world model's hf/ folder); the worker then
captions other held-out photos with the adapter applied by llama.cpp. The same photos
are captioned before and after.

Two kinds of correction:
- RENAME: the user calls circles "disc" (a word the base model never says);
- SHINY: the user adds "shiny" to shapes drawn with a highlight (an attribute the base
  model never names; its training photos had none).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.captions import CaptionStore
from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.storage.db import Database
from models.world.photos import SHINY_OPTIONS
from models.world.score import SHINY_WORD, named_shapes, shapes_right
from models.world.truth import PhotoTruth, ShapeTruth
from tests.finetune_fixtures import MODEL_ID, cli, events_of, install_fixture_model
from tests.world_support import WORLD_MODEL, caption_files, write_heldout_photos

RENAME, SHINY = "rename", "shiny"
DISC = re.compile(r"\bdiscs?\b", re.IGNORECASE)
# Where each group's photos start in the world's item numbers, so no photo is in two.
CORRECTED_START, EVAL_START = 100_000, 200_000


@dataclass(frozen=True)
class Settings:
    corrected: int = 25  # the finetune's held-out share (0.2) keeps 5 aside: 20 train
    evaluated: int = 60  # held-out photos per group, before and after
    # Stronger than the app's defaults (3 epochs, r=64, 2e-4): a 3 M-parameter model and
    # 20 examples. Fewer epochs or a lower rate leave it half way (circles named neither
    # circle nor disc); 5e-3 breaks the other shapes.
    epochs: int = 15
    rank: int = 32
    learning_rate: float = 1e-3
    layers: str = "all"  # the finetune's --layers


@dataclass
class Outcome:
    figures: dict[str, float] = field(default_factory=dict)
    metrics_before: dict[str, float] = field(default_factory=dict)
    metrics_after: dict[str, float] = field(default_factory=dict)
    minutes: float = 0.0
    errors: list[str] = field(default_factory=list)  # photos the worker could not caption
    losses: list[float] = field(default_factory=list)  # the fine-tune's first and last loss
    after: list[tuple[PhotoTruth, str]] = field(default_factory=list)  # each photo's caption

    @property
    def examples(self) -> list[str]:
        """A few captions after, to show."""
        return [caption for _, caption in self.after[:4]]


def corrected_text(kind: str, truth: PhotoTruth) -> tuple[str, list[str]]:
    """What the user writes: the right caption in their words, and their tags."""
    if kind == RENAME:
        return truth.caption.replace("circle", "disc"), [
            "disc" if t == "circle" else t for t in truth.tags
        ]
    return truth.caption, list(truth.tags)  # SHINY photos' truth says "shiny"


def has_circle(truth: PhotoTruth) -> bool:
    return any(s.kind == "circle" for s in truth.shapes)


def has_shiny(truth: PhotoTruth) -> bool:
    return any(s.shiny for s in truth.shapes)


def library_with_world_model(root: Path) -> DataDir:
    data_dir = DataDir.resolve(root)
    install_fixture_model(data_dir, fixture=WORLD_MODEL)
    db = Database(data_dir.database)
    try:
        library = Library(db)
        library.settings.set("active_model", MODEL_ID)
        library.settings.set("auto_caption", False)
        library.settings.set("temperature", 0.0)
    finally:
        db.close()
    return data_dir


def correct(data_dir: DataDir, kind: str, photos: Sequence[tuple[Path, PhotoTruth]]) -> None:
    db = Database(data_dir.database)
    try:
        with db.read() as conn:
            ids = dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())
        store = CaptionStore(db)
        for path, truth in photos:
            text, tags = corrected_text(kind, truth)
            store.add_user_caption(ids[path.name], text, tags)
    finally:
        db.close()


def caption_figures(kind: str, photos, captions: Sequence[str]) -> dict[str, float]:
    """The experiment's figures on captions of its evaluation photos."""

    def share(pairs) -> float:  # noqa: E306
        pairs = list(pairs)
        return sum(pairs) / max(1, len(pairs))

    rows = list(zip([t for _, t in photos], captions, strict=True))
    if kind == RENAME:
        circles = [(t, c) for t, c in rows if has_circle(t)]
        others = [(t, c) for t, c in rows if not has_circle(t)]
        return {
            "circle photos saying disc": share(bool(DISC.search(c)) for _, c in circles),
            "other photos saying disc": share(bool(DISC.search(c)) for _, c in others),
            "circle photos right (disc = circle)": share(
                shapes_right(DISC.sub("circle", c), _pairs(t)) for t, c in circles
            ),
            "other photos right": share(shapes_right(c, _pairs(t)) for t, c in others),
        }
    shiny = [(t, c) for t, c in rows if has_shiny(t)]
    plain = [(t, c) for t, c in rows if not has_shiny(t)]
    # Per shape, among the shapes a caption names right: is "shiny" said of the ones
    # with a highlight, and not of the others?
    said = [(s.shiny, called) for t, c in rows for s, called in shine_called(t, c)]
    return {
        "shiny photos saying shiny": share(bool(SHINY_WORD.search(c)) for _, c in shiny),
        "plain photos saying shiny": share(bool(SHINY_WORD.search(c)) for _, c in plain),
        "shiny shapes called shiny": share(called for shiny, called in said if shiny),
        "matte shapes called shiny": share(called for shiny, called in said if not shiny),
        "shapes right": share(shapes_right(c, _pairs(t)) for t, c in rows),
    }


def shine_called(truth: PhotoTruth, caption: str) -> list[tuple[ShapeTruth, bool]]:
    """(shape, "shiny" said of it) for each of the truth's shapes the caption names."""
    named = {(n.colour, n.shape): n.shiny for n in named_shapes(caption)}
    return [(s, named[(s.colour, s.kind)]) for s in truth.shapes if (s.colour, s.kind) in named]


def _pairs(truth: PhotoTruth) -> list[tuple[str, str]]:
    return [(s.colour, s.kind) for s in truth.shapes]


def run(work: Path, kind: str, settings: Settings = Settings()) -> Outcome:
    options = SHINY_OPTIONS if kind == SHINY else None
    wanted_corrected = has_circle if kind == RENAME else has_shiny
    corrected = write_heldout_photos(
        work / "corrected", settings.corrected, options=options, start=CORRECTED_START,
        wanted=wanted_corrected,
    )  # fmt: skip
    if kind == RENAME:
        half = settings.evaluated // 2
        # Each group in its own folder: they are drawn from the same item numbers.
        evaluated = write_heldout_photos(
            work / "eval-circles", half, start=EVAL_START, wanted=has_circle
        )
        evaluated += write_heldout_photos(
            work / "eval-others", settings.evaluated - half, start=EVAL_START,
            wanted=lambda t: not has_circle(t),
        )  # fmt: skip
    else:
        evaluated = write_heldout_photos(
            work / "eval", settings.evaluated, options=options, start=EVAL_START
        )
    data_dir = library_with_world_model(work / "data")
    outcome = Outcome()
    caption_files(data_dir.root, None, [p for p, _ in corrected])
    correct(data_dir, kind, corrected)

    def captions() -> list[str]:
        got = caption_files(data_dir.root, None, [p for p, _ in evaluated])
        outcome.errors += [c.error for c in got if c.error]
        return [json.loads(c.answer)["caption"] if c.answer else "" for c in got]

    before = caption_figures(kind, evaluated, captions())
    started = time.monotonic()
    result = cli(
        data_dir.root, "finetune", "--json", "--base-weights", str(WORLD_MODEL / "hf"),
        "--epochs", str(settings.epochs), "--rank", str(settings.rank),
        "--learning-rate", str(settings.learning_rate), "--layers", settings.layers,
        "--holdout", "0.2", "--force",
        timeout=3600,
    )  # fmt: skip
    outcome.minutes = (time.monotonic() - started) / 60
    if result.returncode != 0:
        raise AssertionError(result.stdout[-3000:] + result.stderr[-3000:])
    events = events_of(result.stdout)
    losses = [e["loss"] for e in events if e["event"] == "step" and e.get("loss") is not None]
    outcome.losses = losses[:1] + losses[-1:]
    (registered,) = [e for e in events if e["event"] == "registered"]
    outcome.metrics_before = registered["adapter"].get("metrics_before") or {}
    outcome.metrics_after = registered["adapter"].get("metrics_after") or {}
    after_captions = captions()
    after = caption_figures(kind, evaluated, after_captions)
    outcome.figures = {f"{k} (before)": v for k, v in before.items()} | {
        f"{k} (after)": v for k, v in after.items()
    }
    truths = [truth for _, truth in evaluated]
    outcome.after = list(zip(truths, after_captions, strict=True))
    return outcome


def summary(outcome: Outcome) -> dict[str, Any]:
    return {
        "figures": outcome.figures,
        "metrics_before": outcome.metrics_before,
        "metrics_after": outcome.metrics_after,
        "finetune_minutes": round(outcome.minutes, 2),
        "examples": outcome.examples,
        "errors": outcome.errors,
        "training_loss_first_last": outcome.losses,
    }
