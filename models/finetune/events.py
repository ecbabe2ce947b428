"""What the training process (`python -m models.finetune.run`) tells the fine-tune job.

One JSON line per event on its stdout; the job (app.core.finetune.job) decodes each
once with `TRAINING.decode` and relays the typed events on. The job's own stream
(`captionist finetune --json`, app.core.finetune.events) carries these kinds too, so
the lines are part of that contract: their fields are the JSON keys, unchanged.
No heavy imports here: the app imports this module to read the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from models.event_lines import EventProtocol, LineEvent, omitted_if_default


class TrainingExit(IntEnum):
    """The training process's exit codes."""

    OK = 0
    ERROR = 1  # an `error` event said why (or it crashed before it could)
    CANCELLED = 2  # SIGTERM / SIGINT: the partial output is removed


@dataclass(frozen=True)
class FinetuneEvent(LineEvent):
    """Any event of a fine-tune: the training process's, or the job's around it."""


@dataclass(frozen=True)
class Phase(FinetuneEvent):
    event = "phase"
    phase: str  # prepare | download | load | train | export | verify | evaluate
    message: str


@dataclass(frozen=True)
class Download(FinetuneEvent):
    """Progress of the original weights' download (total None: not known yet)."""

    event = "download"
    done_bytes: int
    total_bytes: int | None


@dataclass(frozen=True)
class Step(FinetuneEvent):
    """One optimiser step (throttled to ~10/s by the emitter, the last always sent)."""

    event = "step"
    step: int
    total_steps: int
    epoch: float
    epochs: int
    loss: float
    elapsed_seconds: float
    eta_seconds: float | None


@dataclass(frozen=True)
class Evaluated(FinetuneEvent):
    """Scores on the held-out corrections, without (`before`) or with the adapter."""

    event = "evaluated"
    which: str  # "before" | "after"
    metrics: dict[str, float]
    samples: list[dict[str, Any]]


@dataclass(frozen=True)
class Done(FinetuneEvent):
    """The adapter is saved, exported and verified. The training process always fills
    every field; a reader takes what is there (older or fake emitters sent fewer)."""

    event = "done"
    adapter_gguf: str | None = None
    peft_dir: str | None = None
    method: str | None = None
    method_reason: str | None = None
    train_seconds: float | None = None
    peak_rss_mb: float | None = None
    final_loss: float | None = None
    metrics_before: dict[str, float] | None = None
    metrics_after: dict[str, float] | None = None


@dataclass(frozen=True)
class Cancelled(FinetuneEvent):
    event = "cancelled"


@dataclass(frozen=True)
class Error(FinetuneEvent):
    """The run failed; `refused` (set only by the app's job) means it never started."""

    event = "error"
    message: str
    refused: bool = omitted_if_default(False)


TRAINING_EVENTS: tuple[type[FinetuneEvent], ...] = (
    Phase,
    Download,
    Step,
    Evaluated,
    Done,
    Cancelled,
    Error,
)
TRAINING: EventProtocol[FinetuneEvent] = EventProtocol("training process", TRAINING_EVENTS)
