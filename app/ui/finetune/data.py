"""What the fine-tune screen reads, as plain functions for the background pool.

Nothing here touches a widget: each function takes plain arguments, reads the database or
the catalog, and returns frozen data the screen shows on the GUI thread. The model that
would be fine-tuned is resolved the way the job resolves it (`choose_model` over the
settings, then the catalog for the original weights), so the screen's "why not" matches
the job's refusal word for word.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.captioning.job_settings import SettingsSnapshot
from app.core.captioning.model_choice import NoModel, choose_model
from app.core.datadir import DataDir
from app.core.desktop.launcher import headless_command
from app.core.finetune.adapters import AdapterRecord, AdapterRegistry
from app.core.finetune.corrections import TrainingCorrection, list_training_corrections
from app.core.storage.db import Database
from app.core.text import counted

DEFAULT_EPOCHS, DEFAULT_RANK = 3, 64  # the seed article: r=64, alpha=2r=128, dropout 0.05
DEFAULT_DROPOUT = 0.05
NO_CORRECTIONS = (
    "No corrections yet. Select a photo, edit its caption in the details panel (F2) and "
    "save (Ctrl+S): each caption you fix becomes a lesson here."
)


@dataclass(frozen=True)
class Counts:
    """The counts line: rows of the table, and the items the job will train on."""

    corrections: int
    train: int
    heldout: int
    excluded: int
    train_items: int  # training examples: a video's corrections make one

    def text(self) -> str:
        if not self.corrections:
            return NO_CORRECTIONS
        text = (
            f"{counted(self.corrections, 'correction')}: {self.train} to train on, "
            f"{self.heldout} held out for scoring, {self.excluded} excluded"
        )
        if not self.train and self.excluded == self.corrections:
            text += ". Tick Include on a row to train on it again."
        return text


def count(rows: list[TrainingCorrection]) -> Counts:
    train = [r for r in rows if not r.excluded and not r.heldout]
    return Counts(
        corrections=len(rows),
        train=len(train),
        heldout=sum(1 for r in rows if r.heldout),
        excluded=sum(1 for r in rows if r.excluded),
        train_items=len({r.item_id for r in train}),
    )


@dataclass(frozen=True)
class ModelTarget:
    """The model a fine-tune would adapt: the one captions are made with."""

    model_id: str | None
    name: str
    base_weights_repo: str | None  # the Hugging Face original; None for a custom GGUF
    problem: str | None  # no model at all: why, in the user's words


@dataclass(frozen=True)
class PlanView:
    """`models.finetune.plan.TrainingPlan` as the screen needs it, or why it is missing."""

    possible: bool
    refusal: str | None
    method: str = ""
    method_reason: str = ""
    device: str = ""
    memory_needed_gb: float = 0.0
    memory_available_gb: float = 0.0
    estimated_seconds: float = 0.0
    missing_packages: tuple[str, ...] = ()

    @classmethod
    def from_plan(cls, plan: Any) -> PlanView:
        return cls(
            possible=bool(plan.possible),
            refusal=plan.refusal,
            method=str(plan.method),
            method_reason=str(plan.method_reason),
            device=str(plan.device),
            memory_needed_gb=float(plan.memory_needed_gb),
            memory_available_gb=float(plan.memory_available_gb),
            estimated_seconds=float(plan.estimated_seconds),
            missing_packages=tuple(plan.missing_packages),
        )


def load_corrections(
    db: Database, holdout: float, thumbnails: Path | None = None
) -> list[TrainingCorrection]:
    return list_training_corrections(db, holdout=holdout, gallery_thumbnails=thumbnails)


def model_target(db: Database, data_dir: DataDir) -> ModelTarget:
    from models.catalog import load_catalog

    try:
        choice = choose_model(SettingsSnapshot.read(db), data_dir.models)
    except NoModel as exc:
        return ModelTarget(None, "none set up yet", None, _sentence(str(exc)))
    entry = load_catalog().get(choice.model_id)
    if entry is None:
        name = f"your own model ({choice.model_path.name})"
        return ModelTarget(choice.model_id, name, None, None)
    return ModelTarget(choice.model_id, entry.name, entry.base_weights_repo, None)


def training_plan_view(
    target: ModelTarget,
    *,
    examples: int,
    epochs: int,
    rank: int,
    fresh: bool = False,
    data_root: Path | None = None,
) -> PlanView:
    """The plan for this machine; `fresh` after installing packages (so a package that
    just arrived is found by the import system's cached directory listings)."""
    if target.model_id is None:
        return PlanView(False, target.problem or "No captioning model is set up yet.")
    if fresh:
        importlib.invalidate_caches()
    try:
        from models.finetune.plan import training_plan
    except ImportError:
        return PlanView(False, "This version of Captionist cannot fine-tune (no planner).")
    plan = training_plan(
        target.model_id,
        base_weights_repo=target.base_weights_repo,
        examples=examples,
        epochs=epochs,
        rank=rank,
        data_root=data_root,
    )
    return PlanView.from_plan(plan)


@dataclass(frozen=True)
class RuntimeView:
    """The packaged app's training components (models/finetune/runtime.py); a source
    install has none (`packaged` False): it trains with its own interpreter."""

    packaged: bool
    installed: bool = False
    size_bytes: int = 0
    download_gb: float = 1.0

    def install_text(self) -> str:
        return f"Install training components (≈ {self.download_gb:.0f} GB)"

    def remove_text(self) -> str:
        return f"Remove training components (frees {gb_text(self.size_bytes)})"


def gb_text(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.0f} MB"


def runtime_view(data_dir: DataDir) -> RuntimeView:
    from models.finetune import runtime

    if not runtime.packaged():
        return RuntimeView(False)
    state = runtime.status(data_dir.root)
    return RuntimeView(True, state.ready, state.size_bytes, runtime.download_gb())


def remove_runtime(data_dir: DataDir) -> str:
    """Remove the training components; the sentence saying how much was freed."""
    from models.finetune import runtime

    freed = runtime.remove(data_dir.root)
    return f"Removed the training components: {gb_text(freed)} freed."


def install_command(data_dir: DataDir) -> list[str]:
    """What "Install training components" runs: in the packaged app, its own command line
    building the private training runtime; from source, pip into this environment."""
    from models.finetune import runtime

    if runtime.packaged():
        return [
            *headless_command(),
            "--data-dir",
            str(data_dir.root),
            "finetune-runtime",
            "install",
        ]
    from models.finetune.install import pip_install_command

    return list(pip_install_command())


def load_adapters(db: Database, model_id: str | None) -> list[AdapterRecord]:
    return AdapterRegistry(db).list(model_id) if model_id else []


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
