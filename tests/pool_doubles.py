"""`ScriptedBackend`: a named test double of a caption backend (an inference server)
for the pool's tests. It answers after a delay, fails when its script says so, honours
should_stop like a real client, and records every call (thread-safe), so a test can
check what went where, how many at once, and when.

It is not a fake server: the HTTP client is tested against real llama-server and
llama_cpp.server; this stands for "a member of the pool" and its faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from models.answer import CaptionAnswer
from models.prompts import PromptTemplate
from models.runtime import Cancelled, CaptionResult, Sampling
from models.servers.backend import ServerError, ServerProblem

# What a call does, by its number (0-based) on this backend: None answers.
Script = Callable[[int], BaseException | None]


@dataclass(frozen=True)
class Call:
    number: int
    images: int
    started: float
    ended: float
    outcome: str  # "answered" | "cancelled" | the exception's class name
    adapter: str | None


class ScriptedBackend:
    def __init__(
        self,
        name: str,
        *,
        slots: int = 2,
        delay: float | Callable[[int], float] = 0.05,  # seconds, or by call number
        model_id: str = "scripted-model",
        script: Script | None = None,
        adapters: Sequence[str] = (),
        per_image: Callable[[bytes], BaseException | None] | None = None,
    ) -> None:
        self._name, self._slots, self._model_id = name, slots, model_id
        self.delay = delay
        self.script = script or (lambda _n: None)
        self.per_image = per_image or (lambda _image: None)  # what a photo makes it do
        self.down = False  # while True every call fails at once with DOWN
        self.adapters = set(adapters)
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self._count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def slots(self) -> int:
        return self._slots

    def supports_adapter(self, adapter_id: str) -> bool:
        return adapter_id in self.adapters

    def answered(self) -> int:
        with self._lock:
            return sum(c.outcome == "answered" for c in self.calls)

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
        adapter: str | None = None,
    ) -> CaptionResult:
        started = time.monotonic()
        with self._lock:
            number = self._count
            self._count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        outcome = "answered"
        try:
            if self.down:
                raise ServerError(self._name, ServerProblem.DOWN, f"{self._name} is down")
            delay = self.delay(number) if callable(self.delay) else self.delay
            deadline = started + delay
            while time.monotonic() < deadline:
                if should_stop():
                    raise Cancelled()
                time.sleep(0.005)
            failure = self.script(number) or self.per_image(images[0])
            if failure is not None:
                raise failure
            if should_stop():
                raise Cancelled()
            moments = [f"moment {i}" for i in range(len(timestamps or ()))]
            answer = CaptionAnswer(f"caption by {self._name}", ["scripted"], None, moments)
            return CaptionResult(answer, 10, 5, time.monotonic() - started)
        except BaseException as exc:
            outcome = "cancelled" if isinstance(exc, Cancelled) else type(exc).__name__
            if isinstance(exc, ServerError):
                outcome = exc.problem
            raise
        finally:
            with self._lock:
                self.in_flight -= 1
                self.calls.append(
                    Call(number, len(images), started, time.monotonic(), outcome, adapter)
                )

    def close(self) -> None:
        self.closed = True


def server_error(name: str, problem: str, retry_after: float | None = None) -> ServerError:
    return ServerError(name, problem, f"{name}: {problem}", retry_after)
