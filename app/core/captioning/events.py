"""What the caption worker process tells its owner, and how it exits.

The worker prints these as JSON lines (`captionist worker`); the supervisor decodes
each line once (`CAPTION_WORKER.decode`) and hands the events on, so the window,
the activity panel and `captionist caption` match on types, not strings. `Crashed`
is the supervisor's own: the worker it stands for can no longer speak.
This module loads nothing heavy: the GUI process, which only supervises, imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from models.event_lines import EventProtocol, LineEvent, omitted_if_default


class WorkerExit(IntEnum):
    """The worker's exit codes; the supervisor restarts it on any other."""

    DONE = 0
    NO_MODEL = 3  # the supervisor waits for a model instead of restarting
    MODEL_BROKEN = 4
    ALREADY_RUNNING = 5  # another worker holds this data directory's lock
    STORAGE = 6  # the library cannot be written (read-only, disk full…): app.core.storage.problems
    DAMAGED = 7  # the library file is damaged: nothing more is written; the window offers repair


@dataclass(frozen=True)
class CaptionEvent(LineEvent):
    """Any event of the caption worker's stream."""


@dataclass(frozen=True)
class Started(CaptionEvent):
    event = "started"
    job: int
    item: int
    kind: str  # "photo" | "video"


@dataclass(frozen=True)
class Progress(CaptionEvent):
    """Done / total this session, the rate and the time left, for progress bars."""

    event = "progress"
    done: int
    total: int
    per_minute: float
    eta_seconds: float | None


@dataclass(frozen=True)
class Finished(CaptionEvent):
    event = "finished"
    job: int
    item: int | None
    seconds: float
    caption: str
    tags: list[str]
    # A video: how many of its keyframes the model saw (as many as fit its context).
    frames: int | None = omitted_if_default(None)
    # The inference server that made it (issue 13); None: this computer.
    server: str | None = omitted_if_default(None)


@dataclass(frozen=True)
class Cancelled(CaptionEvent):
    """The job was cancelled: while generating (no caption), or after the caption
    was made but before it could be stored (the caption is reported anyway)."""

    event = "cancelled"
    job: int
    item: int | None
    seconds: float | None = omitted_if_default(None)
    caption: str | None = omitted_if_default(None)
    tags: list[str] | None = omitted_if_default(None)


@dataclass(frozen=True)
class Failed(CaptionEvent):
    event = "failed"
    job: int
    item: int | None
    error: str


@dataclass(frozen=True)
class Paused(CaptionEvent):
    event = "paused"  # repeated every second while the queue is paused


@dataclass(frozen=True)
class Idle(CaptionEvent):
    event = "idle"  # repeated every second while there is nothing to do


@dataclass(frozen=True)
class Fatal(CaptionEvent):
    """The worker cannot go on (no model, a broken one, another worker running)."""

    event = "fatal"
    error: str
    # "no_model" | "model_broken" | "storage" | "damaged"
    reason: str | None = omitted_if_default(None)

    @property
    def needs_a_model(self) -> bool:
        return self.reason in ("no_model", "model_broken")

    @property
    def library_damaged(self) -> bool:
        return self.reason == "damaged"


@dataclass(frozen=True)
class Recovered(CaptionEvent):
    """Jobs a dead worker left running, requeued or (after a crash in safe mode) failed."""

    event = "recovered"
    requeued: int
    failed: int


@dataclass(frozen=True)
class ModelLoaded(CaptionEvent):
    event = "model_loaded"
    model: str
    adapter: str | None  # the fine-tuned adapter applied, if any
    seconds: float
    gpu_layers: int | None


@dataclass(frozen=True)
class AdapterFailed(CaptionEvent):
    """Reported once; the worker captions with the plain model instead."""

    event = "adapter_failed"
    model: str
    adapter: str
    error: str


@dataclass(frozen=True)
class MetadataFailed(CaptionEvent):
    """The caption is stored, but the file's metadata could not take it."""

    event = "metadata_failed"
    item: int
    error: str


@dataclass(frozen=True)
class MemberStatus(CaptionEvent):
    """A member of the caption pool (an inference server, or "this computer"): sent
    when its health changes and every few seconds while captioning, for the activity
    panel's per-server line."""

    event = "member_status"
    name: str
    healthy: bool
    reason: str | None  # why it is not healthy (the server's error), else None
    in_flight: int  # captions it is working on now
    per_minute: float  # captions it finished per minute lately


@dataclass(frozen=True)
class Waiting(CaptionEvent):
    """Jobs are queued but no member of the pool can take them (every server down,
    none set up, the engine not in the pool): repeated every second while so."""

    event = "waiting"
    reason: str


@dataclass(frozen=True)
class EmbeddingProgress(CaptionEvent):
    """Search by meaning: the worker's second thread embedding captions (a backfill,
    a new model, or the captions just made or edited). Sent about once a second while
    rows are queued, and when the queue empties."""

    event = "embedding_progress"
    model: str  # the embedding model's label
    pending: int  # captions still to embed
    embedded: int  # embedded by this worker so far
    ready: bool  # the model's vectors cover the library: searches use it


@dataclass(frozen=True)
class EmbeddingFailed(CaptionEvent):
    """The embedding model could not be used (missing, not an embedding model, a
    crash); captioning goes on, search by meaning waits."""

    event = "embedding_failed"
    message: str


@dataclass(frozen=True)
class Crashed(CaptionEvent):
    """Sent by the supervisor: the worker died and restarts after `restart_in` s."""

    event = "crashed"
    exit_code: int
    restart_in: float


CAPTION_WORKER: EventProtocol[CaptionEvent] = EventProtocol(
    "caption worker",
    (
        Started,
        Progress,
        Finished,
        Cancelled,
        Failed,
        Paused,
        Idle,
        Fatal,
        Recovered,
        ModelLoaded,
        AdapterFailed,
        MetadataFailed,
        MemberStatus,
        Waiting,
        EmbeddingProgress,
        EmbeddingFailed,
        Crashed,
    ),
)
