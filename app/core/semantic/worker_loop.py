"""The caption worker's second thread: caption vectors kept in step (sync.py).

The worker process owns the models, so the embedding model loads here, beside the
caption model. Captioning comes first: while a caption is being made the thread embeds
one batch and then waits, so a backfill of a large library slows captioning by a
little, not by half. Events (EmbeddingProgress, EmbeddingFailed) go to the worker's
stream for the activity panel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from app.core.captioning.events import CaptionEvent, EmbeddingFailed, EmbeddingProgress
from app.core.semantic.crash_guard import CrashGuard
from app.core.semantic.model_choice import EmbeddingChoice
from app.core.semantic.sync import EmbeddingSync, SyncProgress
from app.core.semantic.vectors import DocumentEmbedder
from app.core.storage.db import Database
from app.core.storage.problems import StorageProblem

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often an idle thread looks for captions queued by other processes
WHILE_CAPTIONING_S = 2.0  # the pause between batches while a caption is being made
PROGRESS_EVERY_S = 1.0


class ClosableEmbedder(DocumentEmbedder, Protocol):
    def close(self) -> None: ...


def open_text_embedder(choice: EmbeddingChoice) -> ClosableEmbedder:
    """The real model (llama.cpp), imported here: only the worker process loads it."""
    from models.embedding import EmbeddingPrompts, TextEmbedder

    return TextEmbedder(
        choice.path,
        prompts=EmbeddingPrompts(
            query_prefix=choice.query_prefix, document_prefix=choice.document_prefix
        ),
    )


class EmbeddingLoop:
    def __init__(
        self,
        db: Database,
        choice: EmbeddingChoice,
        *,
        emit: Callable[[CaptionEvent], None],
        captioning: threading.Event,
        forever: bool,
        data_root: Path | None,
        open_embedder: Callable[[EmbeddingChoice], ClosableEmbedder] = open_text_embedder,
    ) -> None:
        self._db = db
        self._choice = choice
        self._emit = emit
        self._captioning = captioning  # set by the worker while it makes a caption
        self._forever = forever  # False: embed what is queued, then end
        self._guard = CrashGuard(data_root)
        self._open = open_embedder
        self.stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_report = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="embedding", daemon=True)
        self._thread.start()

    def finish(self, *, drain: bool) -> None:
        """End the thread: at once, or (`drain`) once the queue is empty."""
        if not drain:
            self.stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            embedder = self._open(self._choice)
        except Exception as exc:  # any failure to load is the model's, never the worker's
            log.warning("embedding model %s not usable: %s", self._choice.path, exc)
            self._emit(EmbeddingFailed(f"{self._choice.label}: {exc}"))
            return
        try:
            self._loop(embedder)
        except StorageProblem as exc:
            self._emit(EmbeddingFailed(f"the library cannot be written: {exc}"))
        except Exception as exc:
            log.exception("embedding stopped")
            self._emit(EmbeddingFailed(f"{self._choice.label}: {exc}"))
        finally:
            embedder.close()

    def _loop(self, embedder: ClosableEmbedder) -> None:
        sync = EmbeddingSync(
            self._db,
            embedder,
            self._choice.label,
            path=self._choice.path,
            query_prefix=self._choice.query_prefix,
            guard=self._guard,
        )
        progress = sync.start()
        self._report(progress, force=True)
        if not self._forever and not progress.ready:
            return  # a backfill is the background worker's (or `captionist embed`'s)
        while not self.stop.is_set():
            if progress.pending:
                progress = sync.step()
                self._report(progress, force=not progress.pending)
                if self._captioning.is_set():
                    self.stop.wait(WHILE_CAPTIONING_S)
                continue
            if not self._forever:
                return
            self.stop.wait(POLL_S)
            progress = sync.progress()
            if progress.pending:
                self._report(progress, force=True)

    def _report(self, progress: SyncProgress, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_report >= PROGRESS_EVERY_S:
            self._last_report = now
            self._emit(
                EmbeddingProgress(
                    progress.model, progress.pending, progress.embedded, progress.ready
                )
            )
