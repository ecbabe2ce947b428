"""What the fine-tune job refuses before any training starts, in words a user can act
on (the real planner, real files, no training process started)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.core.datadir import DataDir
from app.core.finetune.events import FinetuneEvent
from app.core.finetune.job import FinetuneOptions, FinetuneOutcome, run_finetune
from app.core.library.library import Library
from app.core.storage.db import Database
from models.finetune import runtime
from models.finetune.plan import MIN_TRAINING_EXAMPLES, runtime_refusal
from tests.finetune_fixtures import (
    BASE_WEIGHTS,
    CORRECTIONS,
    FIXTURE,
    corrected_library,
    install_fixture_model,
)

OPTIONS = FinetuneOptions(epochs=1, rank=4, base_weights_dir=BASE_WEIGHTS)


def run(data_dir: DataDir, options: FinetuneOptions = OPTIONS) -> FinetuneOutcome:
    events: list[FinetuneEvent] = []
    outcome = run_finetune(data_dir, options, events.append)
    assert outcome.events == events
    return outcome


def lines(outcome: FinetuneOutcome) -> list[dict[str, Any]]:
    """The outcome's events as the dicts of their JSON lines (`finetune --json`)."""
    return [event.to_dict() for event in outcome.events]


def refusal(outcome: FinetuneOutcome) -> str:
    assert outcome.status == "refused" and outcome.exit_code == 1
    assert outcome.adapter is None
    last = lines(outcome)[-1]
    assert last["event"] == "error" and last["refused"] is True
    assert last["message"] == outcome.message
    return str(outcome.message)


def nothing_started(data_dir: DataDir) -> None:
    assert list(data_dir.adapters.iterdir()) == []
    assert not any(e.is_dir() for e in (data_dir.root / "finetune").glob("*"))


def test_too_few_corrections(data_dir: DataDir, tmp_path: Path) -> None:
    install_fixture_model(data_dir)
    few = dict(list(CORRECTIONS.items())[: MIN_TRAINING_EXAMPLES - 1])
    corrected_library(data_dir, tmp_path / "photos", few)
    message = refusal(run(data_dir, FinetuneOptions(holdout=0.0, base_weights_dir=BASE_WEIGHTS)))
    assert str(MIN_TRAINING_EXAMPLES) in message
    nothing_started(data_dir)


def test_no_model(data_dir: DataDir, tmp_path: Path) -> None:
    corrected_library(data_dir, tmp_path / "photos")
    assert "smolvlm2-256m' is not installed (download it first)" in refusal(run(data_dir))
    nothing_started(data_dir)


def test_a_packaged_app_without_its_training_runtime_says_what_it_needs(
    data_dir: DataDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the PyInstaller bundle training runs in the private runtime; without it the
    job refuses with what it needs (and starts nothing)."""
    install_fixture_model(data_dir)
    corrected_library(data_dir, tmp_path / "photos")
    monkeypatch.setattr(runtime, "packaged", lambda: True)
    assert refusal(run(data_dir)) == runtime_refusal()
    nothing_started(data_dir)


def test_a_custom_model_cannot_be_fine_tuned(data_dir: DataDir, tmp_path: Path) -> None:
    corrected_library(data_dir, tmp_path / "photos")
    db = Database(data_dir.database)
    try:
        settings = Library(db).settings
        settings.set("custom_model_path", str(FIXTURE / "model.gguf"))
        settings.set("custom_mmproj_path", str(FIXTURE / "mmproj.gguf"))
    finally:
        db.close()
    outcome = run(data_dir)
    message = refusal(outcome)
    assert lines(outcome)[0]["event"] == "plan" and not lines(outcome)[0]["possible"]
    assert message
    nothing_started(data_dir)


def test_files_gone_leave_too_few_to_train(data_dir: DataDir, tmp_path: Path) -> None:
    install_fixture_model(data_dir)
    corrected_library(data_dir, tmp_path / "photos")
    for name in ("astronaut", "coffee"):
        (tmp_path / "photos" / f"{name}.jpg").unlink()
    outcome = run(data_dir)
    message = refusal(outcome)
    prepared = next(e for e in lines(outcome) if e["event"] == "prepared")
    assert {Path(s["path"]).name for s in prepared["skipped"]} <= {"astronaut.jpg", "coffee.jpg"}
    assert prepared["skipped"] and "skipped" in message
    nothing_started(data_dir)


def test_one_fine_tune_at_a_time(data_dir: DataDir, tmp_path: Path) -> None:
    from filelock import FileLock

    install_fixture_model(data_dir)
    corrected_library(data_dir, tmp_path / "photos")
    with FileLock(str(data_dir.root / "finetune.lock")):
        assert "already running" in refusal(run(data_dir))


def test_cancel_while_preparing_starts_nothing(data_dir: DataDir, tmp_path: Path) -> None:
    install_fixture_model(data_dir)
    corrected_library(data_dir, tmp_path / "photos")
    events: list[dict[str, Any]] = []
    outcome = run_finetune(
        data_dir, OPTIONS, lambda e: events.append(e.to_dict()), should_cancel=lambda: True
    )
    assert (outcome.status, outcome.exit_code) == ("cancelled", 2)
    assert events[-1] == {"event": "cancelled"}
    assert not any(e["event"] in ("prepared", "step", "done") for e in events)
    nothing_started(data_dir)
