"""The one interface a caption backend offers: the in-process engine
(models.runtime.CaptionEngine) and a server (models.servers.client) both caption one
photo or video per call, blocking, and may be called from several threads at once up
to `slots` calls (the engine: 1).

The caller (the worker's pool, app/core/captioning/pool.py) owns the queue: a backend
never touches the library. Errors: models.runtime.Cancelled when should_stop() asked
for it; BackendError for anything the backend could not do (a ServerError says which
server and whether another try elsewhere may succeed); models.answer.AnswerError when
the answer does not parse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from models.prompts import PromptTemplate
from models.runtime import CaptionResult, EngineError, Sampling


class CaptionBackend(Protocol):
    @property
    def name(self) -> str:
        """Who captions, for the user and the caption's provenance: "this computer",
        or the server's name."""
        ...

    @property
    def model_id(self) -> str:
        """The model that answers (a catalog id, or the name the server serves)."""
        ...

    @property
    def slots(self) -> int:
        """How many captions it works on at once."""
        ...

    def caption(
        self,
        images: Sequence[bytes],
        template: PromptTemplate,
        *,
        language: str = "English",
        exif_context: str | None = None,
        timestamps: Sequence[float] | None = None,
        sampling: Sampling = Sampling(),  # noqa: B008  # frozen: shared safely
        should_stop: Callable[[], bool] = lambda: False,
    ) -> CaptionResult:
        """Caption one photo (one JPEG) or one video (its keyframes as JPEGs, with
        their timestamps), in one request."""
        ...

    def close(self) -> None: ...


BackendError = EngineError  # the engine's error is the backend error: one except clause


class ServerProblem:
    """Kinds of ServerError, for backing off and for the words the user sees."""

    DOWN = "down"  # connection refused or reset, DNS, TLS: the server is not there
    TIMEOUT = "timeout"  # no answer within the request timeout
    BUSY = "busy"  # 429 or 503: come back later (retry_after when it said)
    FAILED = "failed"  # 5xx: the server failed on this request
    AUTH = "auth"  # 401/403: the key is missing or wrong
    REJECTED = "rejected"  # 4xx other than the above: this request will never work there
    BAD_ANSWER = "bad_answer"  # 200 but not a valid answer (ignored the schema, garbage)


# Not frozen: raising an exception through a @contextmanager (contextlib, pytest-qt)
# assigns its __traceback__, which a frozen dataclass refuses (FrozenInstanceError).
@dataclass(eq=False)
class ServerError(BackendError):
    """A server could not caption this item; `message` is a sentence naming it."""

    server: str
    problem: str  # a ServerProblem value
    message: str
    retry_after: float | None = None  # seconds, when the server said (Retry-After)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def server_fault(self) -> bool:
        """The server, not the item, is the problem: another member may succeed, and
        this one is backed off (circuit breaker)."""
        return self.problem in (
            ServerProblem.DOWN,
            ServerProblem.TIMEOUT,
            ServerProblem.BUSY,
            ServerProblem.FAILED,
            ServerProblem.AUTH,
        )
