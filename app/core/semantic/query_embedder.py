"""Query vectors for the window's searches, from `captionist embed-queries`: a small
process that owns the embedding model (app/cli/embed_queries.py), started on the first
search by meaning and kept while the window is open. Callable as a hybrid.QueryEmbedder.

One request at a time (searches run on one background thread anyway); an answer that
does not come within the timeout, or a process that died, is a QueryEmbeddingError for
that search (keyword results, with a notice) and a fresh process for the next one —
unless it keeps failing, then it rests for a while instead of starting one per keystroke.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import subprocess
import threading
import time
from collections.abc import Callable

import numpy as np

from app.core.desktop.launcher import headless_command
from app.core.semantic.hybrid import QueryEmbeddingError
from app.core.semantic.vectors import Vector
from app.core.storage.embedding_rows import StoredModel

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0  # loading a 300M model from a cold disk
ANSWER_TIMEOUT_S = 10.0
REST_AFTER_FAILURES = 3
REST_S = 60.0
CLOSE_WAIT_S = 0.5  # at window close, how long to wait for a search in flight


def embed_queries_command(model: StoredModel) -> list[str]:
    return [
        *headless_command(),
        "embed-queries",
        "--model-path",
        model.path,
        "--query-prefix",
        model.query_prefix,
    ]


class _Process:
    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, name="embed-queries-reader", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)  # the process ended

    def answer(self, timeout: float) -> dict[str, object]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise QueryEmbeddingError("the embedding process did not answer in time") from None
        if line is None:
            raise QueryEmbeddingError("the embedding process stopped")
        try:
            message = json.loads(line)
        except ValueError:
            raise QueryEmbeddingError("the embedding process answered nonsense") from None
        if not isinstance(message, dict):
            raise QueryEmbeddingError("the embedding process answered nonsense")
        if "error" in message:
            raise QueryEmbeddingError(str(message["error"]))
        return message

    def ask(self, text: str, timeout: float) -> Vector:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps({"text": text}) + "\n")
            self.process.stdin.flush()
        except OSError:
            raise QueryEmbeddingError("the embedding process stopped") from None
        message = self.answer(timeout)
        return np.frombuffer(base64.b64decode(str(message["vector"])), "<f4").copy()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.close()  # it exits when stdin closes
                self.process.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


class QueryEmbedderProcess:
    def __init__(
        self,
        command: Callable[[StoredModel], list[str]] = embed_queries_command,
        *,
        answer_timeout: float = ANSWER_TIMEOUT_S,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        self._command = command
        self._answer_timeout = answer_timeout
        self._start_timeout = start_timeout
        self._lock = threading.Lock()
        self._process: _Process | None = None
        self._model: StoredModel | None = None
        self._failures = 0
        self._resting_until = 0.0

    def __call__(self, model: StoredModel, text: str) -> Vector:
        with self._lock:
            if time.monotonic() < self._resting_until:
                raise QueryEmbeddingError("the embedding process keeps failing; trying again soon")
            try:
                vector = self._running(model).ask(text, self._answer_timeout)
            except QueryEmbeddingError:
                self._stop()
                self._failures += 1
                if self._failures >= REST_AFTER_FAILURES:
                    self._resting_until = time.monotonic() + REST_S
                    self._failures = 0
                raise
            self._failures = 0
            return vector

    def _running(self, model: StoredModel) -> _Process:
        alive = self._process is not None and self._process.process.poll() is None
        if alive and self._process is not None and self._model == model:
            return self._process
        self._stop()
        log.info("starting the query embedder for %s", model.label)
        process = _Process(self._command(model))
        try:
            ready = process.answer(self._start_timeout)
        except QueryEmbeddingError:
            process.close()
            raise
        if ready.get("model_key") != model.model_key:
            process.close()
            raise QueryEmbeddingError(
                f"{model.path} is no longer the model the library's vectors were made with; "
                "they are being made again"
            )
        self._process, self._model = process, model
        return process

    def _stop(self) -> None:
        if self._process is not None:
            self._process.close()
        self._process = self._model = None

    def close(self) -> None:
        """Stop the process. A search still waiting on it (a slow start) is not waited
        for: the process is killed, and that search ends keyword-only."""
        if self._lock.acquire(timeout=CLOSE_WAIT_S):
            try:
                self._stop()
            finally:
                self._lock.release()
            return
        running = self._process
        if running is not None and running.process.poll() is None:
            running.process.kill()
