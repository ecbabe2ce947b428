"""The caption worker's and the fine-tune job's event protocols: every kind decodes, and
the lines stay what `captionist worker` and `captionist finetune --json` always printed."""

from __future__ import annotations

import json

import pytest

import app.core.captioning.events as captioning
import app.core.finetune.events as finetune
from models.event_lines import LineEvent
from models.finetune.events import TRAINING_EVENTS
from models.finetune.plan import TrainingPlan
from tests.event_samples import assert_round_trips, kinds_in


# -- the caption worker --------------------------------------------------------------------
def test_every_caption_worker_kind_is_decoded() -> None:
    """A kind added to app.core.captioning.events but not to CAPTION_WORKER fails here."""
    assert kinds_in(captioning) == set(captioning.CAPTION_WORKER.kinds.values())


@pytest.mark.parametrize("kind", sorted(kinds_in(captioning), key=lambda k: k.event))
def test_caption_worker_events_round_trip(kind: type[LineEvent]) -> None:
    assert_round_trips(captioning.CAPTION_WORKER, kind)


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            captioning.Started(job=4, item=9, kind="photo"),
            '{"event": "started", "job": 4, "item": 9, "kind": "photo"}',
        ),
        (
            captioning.Finished(4, 9, 0.5, "Ein Hund im Schnee", ["dog", "snow"]),
            '{"event": "finished", "job": 4, "item": 9, "seconds": 0.5, '
            '"caption": "Ein Hund im Schnee", "tags": ["dog", "snow"]}',
        ),
        (captioning.Cancelled(4, 9), '{"event": "cancelled", "job": 4, "item": 9}'),
        (  # cancelled after the caption was made: reported with it, as before
            captioning.Cancelled(4, 9, 0.5, "café", []),
            '{"event": "cancelled", "job": 4, "item": 9, "seconds": 0.5, '
            '"caption": "café", "tags": []}',
        ),
        (
            captioning.Progress(done=1, total=3, per_minute=2.5, eta_seconds=None),
            '{"event": "progress", "done": 1, "total": 3, "per_minute": 2.5, "eta_seconds": null}',
        ),
        (
            captioning.Fatal("another caption worker is already running"),
            '{"event": "fatal", "error": "another caption worker is already running"}',
        ),
        (
            captioning.Fatal("no model", "no_model"),
            '{"event": "fatal", "error": "no model", "reason": "no_model"}',
        ),
        (
            captioning.ModelLoaded("smolvlm-256m", None, 1.25, 0),
            '{"event": "model_loaded", "model": "smolvlm-256m", "adapter": null, '
            '"seconds": 1.25, "gpu_layers": 0}',
        ),
        (captioning.Paused(), '{"event": "paused"}'),
        (
            captioning.Crashed(exit_code=-11, restart_in=2.0),
            '{"event": "crashed", "exit_code": -11, "restart_in": 2.0}',
        ),
    ],
)
def test_caption_worker_lines_are_as_before(event: LineEvent, line: str) -> None:
    assert event.to_json() == line
    assert captioning.CAPTION_WORKER.decode(line) == event


def test_worker_exit_codes() -> None:
    assert {c.name: int(c) for c in captioning.WorkerExit} == {
        "DONE": 0,
        "NO_MODEL": 3,
        "MODEL_BROKEN": 4,
        "ALREADY_RUNNING": 5,
        "STORAGE": 6,  # app.core.storage.problems.EXIT_STORAGE
        "DAMAGED": 7,  # app.core.storage.problems.EXIT_DAMAGED
    }


# -- the fine-tune job (`finetune --json`) -----------------------------------------------------
def test_every_finetune_job_kind_is_decoded() -> None:
    """A kind added to app.core.finetune.events but not to FINETUNE_JOB fails here; the
    job relays every kind of the training process too."""
    assert kinds_in(finetune) == set(finetune.FINETUNE_JOB.kinds.values())
    assert set(TRAINING_EVENTS) <= kinds_in(finetune)


@pytest.mark.parametrize("kind", sorted(kinds_in(finetune), key=lambda k: k.event))
def test_finetune_job_events_round_trip(kind: type[LineEvent]) -> None:
    assert_round_trips(finetune.FINETUNE_JOB, kind)


def test_the_plan_event_is_the_plan_field_for_field() -> None:
    plan = TrainingPlan(False, "no GPU", "lora", "why", "cpu", 1.5, 8.0, 60.0, ["peft"])
    event = finetune.Plan(**plan.__dict__)
    assert json.loads(event.to_json()) == {"event": "plan", **plan.__dict__}
    assert list(event.to_dict())[1:] == list(plan.__dict__)


def test_finetune_job_lines_are_as_before() -> None:
    assert finetune.Error("too few", refused=True).to_json() == (
        '{"event": "error", "message": "too few", "refused": true}'
    )
    assert finetune.Error("failed").to_json() == '{"event": "error", "message": "failed"}'
    assert finetune.Prepared(4, 2, [{"path": "/a.jpg", "reason": "gone"}]).to_json() == (
        '{"event": "prepared", "examples": 4, "heldout": 2, '
        '"skipped": [{"path": "/a.jpg", "reason": "gone"}]}'
    )
    assert finetune.Registered({"id": "m-v1", "version": 1}).to_json() == (
        '{"event": "registered", "adapter": {"id": "m-v1", "version": 1}}'
    )
    assert finetune.NotActivated("m-v1", "worse").to_json() == (
        '{"event": "not_activated", "adapter_id": "m-v1", "reason": "worse"}'
    )
    assert finetune.Activated("m-v1").to_json() == '{"event": "activated", "adapter_id": "m-v1"}'


def test_a_done_line_with_fields_missing_still_decodes() -> None:
    """The bridge's contract double (and older jobs) send fewer fields; the job reads
    what is there."""
    done = finetune.FINETUNE_JOB.decode('{"event": "done", "adapter_gguf": "/x/adapter.gguf"}')
    assert isinstance(done, finetune.Done)
    assert done.adapter_gguf == "/x/adapter.gguf" and done.metrics_after is None


def test_finetune_exit_codes() -> None:
    assert [int(c) for c in finetune.FinetuneExit] == [0, 1, 2]
