"""What a fine-tune job tells its owner: `captionist finetune --json`, one event a line.

The job (app.core.finetune.job) relays the training process's events
(models.finetune.events) and adds its own around them: the plan, the prepared data,
and the adapter's registration and activation. The GUI's bridge reads the CLI's
stdout with `FINETUNE_JOB.decode`, the CLI prints `to_json()`: other tools read
these lines, so their fields are the JSON keys, unchanged.
No heavy imports here: the GUI process imports this module to read the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from models.event_lines import EventProtocol
from models.finetune.events import (
    TRAINING_EVENTS,
    Cancelled,
    Done,
    Download,
    Error,
    Evaluated,
    FinetuneEvent,
    Phase,
    Step,
)

__all__ = [
    "FINETUNE_JOB",
    "Activated",
    "Cancelled",
    "Done",
    "Download",
    "Error",
    "Evaluated",
    "FinetuneEvent",
    "FinetuneExit",
    "NotActivated",
    "Phase",
    "Plan",
    "Prepared",
    "Registered",
    "Step",
]


class FinetuneExit(IntEnum):
    """`captionist finetune`'s exit codes (and a FinetuneOutcome's)."""

    OK = 0
    ERROR = 1  # refused or failed: an `error` event said why
    CANCELLED = 2  # nothing was registered


@dataclass(frozen=True)
class Plan(FinetuneEvent):
    """models.finetune.plan.TrainingPlan, field for field: what would run, or why not."""

    event = "plan"
    possible: bool
    refusal: str | None
    method: str
    method_reason: str
    device: str
    memory_needed_gb: float
    memory_available_gb: float
    estimated_seconds: float
    missing_packages: list[str] = field(default_factory=list)
    precision: str = "float32"


@dataclass(frozen=True)
class Prepared(FinetuneEvent):
    """The corrections turned into training examples; `skipped` says which and why not."""

    event = "prepared"
    examples: int
    heldout: int
    skipped: list[dict[str, Any]]


@dataclass(frozen=True)
class Registered(FinetuneEvent):
    event = "registered"
    adapter: dict[str, Any]  # app.core.finetune.adapters.AdapterRecord.to_dict()


@dataclass(frozen=True)
class Activated(FinetuneEvent):
    event = "activated"
    adapter_id: str


@dataclass(frozen=True)
class NotActivated(FinetuneEvent):
    """Registered but not used: it scores worse than the model without it."""

    event = "not_activated"
    adapter_id: str
    reason: str


FINETUNE_JOB: EventProtocol[FinetuneEvent] = EventProtocol(
    "fine-tune job",
    (*TRAINING_EVENTS, Plan, Prepared, Registered, Activated, NotActivated),
)
