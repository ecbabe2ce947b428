"""A caption backend that is an OpenAI-compatible inference server (issue 13).

    info = probe(config)                      # kind, models, slots, vision, adapters
    backend = ServerBackend(config, info)     # models.servers.backend.CaptionBackend
    result = backend.caption([jpeg], template, sampling=sampling)

One request per photo or video: the messages the in-process engine builds (the
already-resized JPEGs as data URIs, a video's keyframes with their timestamps), the
answer schema with its string bounds in the server's dialect (models.servers.dialects),
streamed (SSE) so that a cancel closes the connection — llama-server then stops
generating. `should_stop` is polled at every streamed token: a cancel takes effect at
the next token, i.e. after the server has read the images (prompt processing is not
interruptible from here).

An answer that is not valid JSON, breaks the schema, or was cut off is retried once on
the same server, then raised as ServerError(BAD_ANSWER) naming the server and what was
wrong: nothing invalid is ever returned for storing. Thread-safe up to `slots` calls at
once (httpx2's pool is sized to them).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx2

from models.answer import AnswerError, CaptionAnswer, parse_answer
from models.prompts import PromptTemplate, build_messages, builtin_prompts
from models.runtime import Cancelled, CaptionResult, EngineError, Sampling, jpeg_data_uri
from models.servers.backend import ServerError, ServerProblem
from models.servers.config import LoraAdapter, ServerConfig, ServerInfo, ServerKind
from models.servers.dialects import Dialect, dialect_for, schema_violations
from models.servers.http import make_client, status_error, transport_error
from models.servers.probe import health, probe

__all__ = [
    "LoraAdapter",
    "ServerBackend",
    "ServerConfig",
    "ServerInfo",
    "ServerKind",
    "health",
    "probe",
    "test_caption",
]

ATTEMPTS = 2  # a bad answer is retried once


class _BadAnswer(Exception):
    """This answer cannot be stored; another try may give a good one."""


class ServerBackend:
    """Captions on one server. `lora_id`: the id (GET /lora-adapters, ServerInfo.
    lora_adapters) of an adapter loaded on a llama-server, applied per request at
    `lora_scale`; None captions without an adapter (every loaded adapter is sent at
    scale 0). Other kinds ignore it: check `lora_applied` before recording the adapter
    in the caption's provenance."""

    def __init__(
        self,
        config: ServerConfig,
        info: ServerInfo,
        *,
        lora_id: int | None = None,
        lora_scale: float = 1.0,
    ) -> None:
        self.config = config
        self.info = info
        self.dialect: Dialect = dialect_for(info.kind)
        self.lora_id = lora_id
        self.lora_scale = lora_scale
        self._client = make_client(config, info.slots)
        self._closed = threading.Event()

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def model_id(self) -> str:
        return self.info.model

    @property
    def slots(self) -> int:
        return self.info.slots

    @property
    def lora_applied(self) -> bool:
        """The adapter is really sent: a llama-server that has it loaded."""
        return (
            self.lora_id is not None
            and self.dialect.per_request_lora
            and any(a.id == self.lora_id for a in self.info.lora_adapters)
        )

    def supports_adapter(self, adapter_id: str) -> bool:
        """The app's fine-tuned adapter `adapter_id` is loaded here (the pool asks
        before passing `adapter=`): a llama-server started with `--lora` on that
        adapter's file, whose path names the adapter (as the data folder's does)."""
        return self._loaded_lora(adapter_id) is not None

    def _loaded_lora(self, adapter_id: str) -> int | None:
        if not self.dialect.per_request_lora:
            return None
        for loaded in self.info.lora_adapters:
            if adapter_id in loaded.path.replace("\\", "/").split("/") or (
                adapter_id in os.path.basename(loaded.path)
            ):
                return loaded.id
        return None

    def _lora_scales(self, lora_id: int | None) -> dict[int, float] | None:
        """Every adapter the server has loaded, at 0 but the chosen one."""
        if not self.dialect.per_request_lora or not self.info.lora_adapters:
            return None
        return {
            a.id: (self.lora_scale if a.id == lora_id else 0.0) for a in self.info.lora_adapters
        }

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
        """Caption one photo (one JPEG) or one video (its keyframes as JPEGs, with their
        timestamps); `adapter`: the app's adapter id, applied where supports_adapter()
        (else `lora_id` as constructed). Raises Cancelled, ServerError, or EngineError
        for no image."""
        if not images:
            raise EngineError("nothing to caption: no image")
        moments = len(images) if timestamps is not None else 0
        messages = build_messages(
            template,
            [jpeg_data_uri(i) for i in images],
            language=language,
            exif_context=exif_context,
            timestamps=timestamps,
        )
        body = self.dialect.body(
            model=self.info.model,
            messages=messages,
            sampling=sampling,
            moments=moments,
            lora=self._lora_scales(
                self._loaded_lora(adapter) if adapter is not None else self.lora_id
            ),
        )
        started = time.perf_counter()
        wrong = ""
        for _ in range(ATTEMPTS):
            try:
                raw, usage, finish = self._request(body, should_stop)
                answer = self._check(raw, finish, sampling, moments)
            except _BadAnswer as exc:
                wrong = str(exc)
                continue
            return CaptionResult(
                answer=answer,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                seconds=time.perf_counter() - started,
            )
        raise ServerError(
            self.name,
            ServerProblem.BAD_ANSWER,
            f"{self.name} gave no valid answer in {ATTEMPTS} tries ({self.info.model}): {wrong}",
        )

    def _check(
        self, raw: str, finish: str | None, sampling: Sampling, moments: int
    ) -> CaptionAnswer:
        if finish == "length":
            raise _BadAnswer("the answer was cut off at the token limit")
        try:
            data = json.loads(raw, strict=False)
        except ValueError:
            raise _BadAnswer(f"the answer is not JSON: {raw[:120]!r}") from None
        violations = schema_violations(data, sampling.limits, moments)
        if violations:
            raise _BadAnswer("the answer breaks the schema: " + "; ".join(violations))
        try:
            answer = parse_answer(raw, moments=moments)
        except AnswerError as exc:
            raise _BadAnswer(str(exc)) from exc
        if not answer.complete:
            raise _BadAnswer("the answer is incomplete")
        return answer

    def _request(
        self, body: dict[str, Any], should_stop: Callable[[], bool]
    ) -> tuple[str, dict[str, Any], str | None]:
        """One request: (the answer's text, usage, finish_reason)."""
        name = self.name
        if self._closed.is_set():
            raise ServerError(name, ServerProblem.DOWN, f"the connection to {name} is closed")
        failure: Exception | None = None
        try:
            with self._client.stream("POST", "/v1/chat/completions", json=body) as response:
                # Raised once the response is closed (and never through httpx2's
                # context manager, which would assign the error's __traceback__).
                try:
                    return self._read(response, should_stop)
                except (ServerError, _BadAnswer, Cancelled) as exc:
                    failure = exc
        except httpx2.TransportError as exc:
            if should_stop():
                raise Cancelled() from exc
            raise transport_error(name, exc) from exc
        assert failure is not None
        raise failure

    def _read(
        self, response: httpx2.Response, should_stop: Callable[[], bool]
    ) -> tuple[str, dict[str, Any], str | None]:
        if response.status_code != 200:
            response.read()
            error = status_error(self.name, response.status_code, response.headers, response.text)
            if error.problem == ServerProblem.BAD_ANSWER:
                raise _BadAnswer(error.message)
            raise error
        kind = response.headers.get("content-type", "").partition(";")[0].strip()
        if kind != "text/event-stream":  # answered without streaming
            response.read()
            return self._whole(response.text)
        return self._streamed(response, should_stop)

    def _whole(self, text: str) -> tuple[str, dict[str, Any], str | None]:
        try:
            data = json.loads(text)
            choice = data["choices"][0]
            return (
                choice["message"]["content"] or "",
                data.get("usage") or {},
                choice.get("finish_reason"),
            )
        except (ValueError, KeyError, IndexError, TypeError):
            raise _BadAnswer(f"the response is not a chat completion: {text[:120]!r}") from None

    def _streamed(
        self, response: httpx2.Response, should_stop: Callable[[], bool]
    ) -> tuple[str, dict[str, Any], str | None]:
        parts: list[str] = []
        usage: dict[str, Any] = {}
        finish: str | None = None
        done = False
        deadline = time.monotonic() + self.config.request_timeout_s * 4
        for event in httpx2.EventSource(response):
            if should_stop():
                raise Cancelled()  # leaving the `with` closes the connection
            if time.monotonic() > deadline:
                raise ServerError(
                    self.name, ServerProblem.TIMEOUT, f"{self.name} did not finish in time"
                )
            if event.data.strip() == "[DONE]":
                done = True
                break
            try:
                chunk = json.loads(event.data)
            except ValueError:
                raise _BadAnswer(f"a streamed chunk is not JSON: {event.data[:120]!r}") from None
            if not isinstance(chunk, dict):
                raise _BadAnswer("a streamed chunk is not a JSON object")
            if "error" in chunk:  # the status line said 200 before the failure
                error = chunk["error"]
                code = error.get("code") if isinstance(error, dict) else None
                status = code if isinstance(code, int) and code >= 400 else 500
                problem = status_error(self.name, status, response.headers, json.dumps(chunk))
                if problem.problem == ServerProblem.BAD_ANSWER:
                    raise _BadAnswer(problem.message)
                raise problem
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if isinstance(delta.get("content"), str):
                    parts.append(delta["content"])
                finish = choice.get("finish_reason") or finish
            if isinstance(chunk.get("usage"), dict):
                usage = chunk["usage"]
        if not done and finish is None:
            raise ServerError(self.name, ServerProblem.DOWN, f"{self.name} ended the answer midway")
        return "".join(parts), usage, finish

    def close(self) -> None:
        self._closed.set()
        self._client.close()


def test_caption(
    config: ServerConfig,
    jpeg: bytes,
    *,
    template: PromptTemplate | None = None,
    sampling: Sampling = Sampling(),  # noqa: B008  # frozen: shared safely
) -> tuple[CaptionAnswer, float]:
    """Settings' "Test" button: probe the server, caption one sample photo, and say how
    long the caption took (seconds). Raises ServerError."""
    info = probe(config)
    backend = ServerBackend(config, info)
    try:
        result = backend.caption([jpeg], template or builtin_prompts()["short"], sampling=sampling)
    finally:
        backend.close()
    return result.answer, result.seconds


test_caption.__test__ = False  # type: ignore[attr-defined]  # a helper, not a pytest test
