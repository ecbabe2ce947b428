"""The JSON-line codec and the training process's protocol (models.finetune.events)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pytest

import models.finetune.events as training
from models.event_lines import EventProtocol, LineEvent, MalformedEvent, omitted_if_default
from tests.event_samples import assert_round_trips, kinds_in


@dataclass(frozen=True)
class _Ping(LineEvent):
    event = "ping"
    count: int
    note: str | None = omitted_if_default(None)


PINGS = EventProtocol("pinger", [_Ping])


def test_fields_are_the_keys_in_order_and_defaults_can_stay_out() -> None:
    assert _Ping(3).to_json() == '{"event": "ping", "count": 3}'
    assert _Ping(3, "é").to_json() == '{"event": "ping", "count": 3, "note": "é"}'
    assert _Ping(3, version=2).to_dict() == {"event": "ping", "count": 3, "v": 2}


def test_a_line_from_a_newer_protocol_is_not_guessed_at(caplog: pytest.LogCaptureFixture) -> None:
    assert PINGS.decode('{"event": "ping", "count": 1, "v": 1}') == _Ping(1)
    with caplog.at_level(logging.WARNING):
        assert PINGS.decode('{"event": "ping", "count": 1, "v": 2}') is None
    assert "version 2" in caplog.text


def test_extra_keys_are_ignored() -> None:
    assert PINGS.decode('{"event": "ping", "count": 1, "added_later": true}') == _Ping(1)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("Loading model... done", "not an event line"),
        ('["event", "ping"]', "unknown event"),
        ('{"count": 1}', "unknown event"),
        ('{"event": "pong"}', "unknown event"),
        ('{"event": "ping"}', "count is missing"),
        ('{"event": "ping", "count": "1"}', "count='1'"),
        ('{"event": "ping", "count": true}', "count=True"),
        ('{"event": "ping", "count": 1.5}', "count=1.5"),
        ('{"event": "ping", "count": 1, "note": 5}', "note=5"),
        ('{"event": "ping", "count": 1', "not an event line"),
    ],
)
def test_anything_else_is_a_warning_not_a_crash(
    line: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="models.event_lines"):
        assert PINGS.decode(line) is None
    assert why in caplog.text and "pinger" in caplog.text


def test_blank_lines_are_skipped_quietly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert PINGS.decode("  \n") is None
    assert not caplog.records


def test_from_json_names_the_kind_it_expected() -> None:
    with pytest.raises(MalformedEvent):
        _Ping.from_json('{"event": "pong", "count": 1}')


def test_a_kind_is_listed_once() -> None:
    with pytest.raises(ValueError, match="twice"):
        EventProtocol("twice", [_Ping, _Ping])


# -- the training process ------------------------------------------------------------------
def test_every_training_kind_is_decoded() -> None:
    """A kind added to models.finetune.events but not to TRAINING fails here."""
    assert kinds_in(training) == set(training.TRAINING.kinds.values())
    assert set(training.TRAINING_EVENTS) == kinds_in(training)


@pytest.mark.parametrize("kind", sorted(kinds_in(training), key=lambda k: k.event))
def test_training_events_round_trip(kind: type[LineEvent]) -> None:
    assert_round_trips(training.TRAINING, kind)


def test_training_lines_are_as_before() -> None:
    """The exact lines the untyped process wrote (the job and `finetune --json` relay them)."""
    step = training.Step(3, 12, 0.75, 3, 1.234567, 4.5, 13.5)
    assert step.to_json() == (
        '{"event": "step", "step": 3, "total_steps": 12, "epoch": 0.75, "epochs": 3, '
        '"loss": 1.234567, "elapsed_seconds": 4.5, "eta_seconds": 13.5}'
    )
    assert training.Cancelled().to_json() == '{"event": "cancelled"}'
    assert training.Error("spec.base_gguf is missing").to_dict() == {
        "event": "error",
        "message": "spec.base_gguf is missing",
    }
    assert training.Download(10, None).to_json() == (
        '{"event": "download", "done_bytes": 10, "total_bytes": null}'
    )
    assert list(training.Done().to_dict()) == [
        "event", "adapter_gguf", "peft_dir", "method", "method_reason", "train_seconds",
        "peak_rss_mb", "final_loss", "metrics_before", "metrics_after",
    ]  # fmt: skip
    evaluated = training.Evaluated("after", {"cider": 0.5}, [{"id": "item-1"}])
    assert json.loads(evaluated.to_json()) == {
        "event": "evaluated",
        "which": "after",
        "metrics": {"cider": 0.5},
        "samples": [{"id": "item-1"}],
    }


def test_exit_codes() -> None:
    assert [int(c) for c in training.TrainingExit] == [0, 1, 2]
