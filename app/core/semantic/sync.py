"""Keeping caption vectors in step with the captions (run by the caption worker).

Triggers queue every index row whose caption changed (app/core/storage/embedding_rows,
migration 0007) in the same transaction as the change; `EmbeddingSync.step` embeds a
batch of queued rows and stores the vectors, then takes those rows off the queue
unless they were queued again meanwhile. A worker killed half-way loses nothing: the
rows it had not stored are still queued.

A model the library has not seen starts 'filling': every captioned row is queued for
it (`start`), while the previous ready model's vectors keep answering searches. When
its queue is empty it becomes 'ready' and the older models' vectors are deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from app.core.semantic.crash_guard import CrashGuard
from app.core.semantic.vectors import DocumentEmbedder, row_text, stored, text_hash
from app.core.storage import embedding_rows as rows
from app.core.storage.db import Database
from app.core.text import counted

log = logging.getLogger(__name__)

BATCH = 32  # rows per embedding call: big enough for llama.cpp's batching, small enough
# that a caption job waiting behind it waits well under a second on a CPU


@dataclass(frozen=True, slots=True)
class SyncProgress:
    model: str  # the model's label
    embedded: int  # rows embedded (or found unchanged) by this process
    pending: int  # rows still queued
    ready: bool  # the model's vectors cover the library


class EmbeddingSync:
    def __init__(
        self,
        db: Database,
        embedder: DocumentEmbedder,
        label: str,
        *,
        path: str = "",
        query_prefix: str = "",
        guard: CrashGuard | None = None,
    ) -> None:
        """`path` and `query_prefix`: how a search embeds its queries for this model."""
        self._db = db
        self._embedder = embedder
        self._label = label
        self._source = (path, query_prefix)
        self._model: rows.StoredModel | None = None
        self._embedded = 0
        self._guard = guard or CrashGuard(None)
        # Rows of a batch that was being embedded when the process died natively.
        suspects = self._guard.left_behind()
        self._culprits = set(suspects) if len(suspects) == 1 else set()
        self._suspects = set(suspects) - self._culprits

    @property
    def model(self) -> rows.StoredModel:
        assert self._model is not None, "start() first"
        return self._model

    def start(self) -> SyncProgress:
        """Register the model and queue what it has no vector for yet (a backfill,
        or a whole library under a new model). Idempotent: a restart queues only
        what is still missing."""
        with self._db.write() as conn:
            model = rows.model_by_key(conn, self._embedder.model_id)
            if model is None:
                model = rows.add_model(
                    conn,
                    self._embedder.model_id,
                    self._label,
                    *self._source,
                    self._embedder.dimension,
                )
            elif (model.path, model.query_prefix) != self._source:
                rows.update_source(conn, model.id, *self._source)
            queued = rows.queue_missing(conn, model.id)
        if queued:
            log.info("embedding %d captions with %s", queued, self._label)
        self._model = model
        return self.progress()

    def step(self, batch: int = BATCH) -> SyncProgress:
        """Embed up to `batch` queued rows; says what is left."""
        model = self.model
        with self._db.read() as conn:
            queued = rows.pending_batch(conn, batch)
            keys = [key for key, _ in queued]
            texts = rows.index_texts(conn, keys)
            hashes = rows.stored_hashes(conn, model.id, keys)
        wanted: dict[int, str] = {}
        gone: list[int] = []  # no index row or no caption: nothing to find it by
        for key in keys:
            caption, tags = texts.get(key, ("", ""))
            if not caption.strip():
                gone.append(key)
                continue
            text = row_text(caption, tags)
            if hashes.get(key) != text_hash(text):
                wanted[key] = text
        for key in self._culprits & wanted.keys():
            log.warning("index row %d crashed the embedding model before: not embedded", key)
            del wanted[key]
        vectors = self._embedded_vectors(wanted)
        with self._db.write() as conn:
            rows.store_vectors(conn, model.id, vectors)
            rows.delete_vectors(conn, gone)
            rows.unqueue(conn, queued)
        self._embedded += len(queued)
        return self.progress()

    def _embedded_vectors(self, wanted: dict[int, str]) -> list[rows.NewVector]:
        """Vectors of these texts. The rows go to the crash guard first: after a native
        crash, the rows of the batch that crashed are embedded one at a time (each
        guarded alone), and a row that crashes alone is skipped (`start`)."""
        if not wanted:
            return []
        suspects = self._suspects & wanted.keys()
        groups = [[key] for key in suspects] if suspects else []
        groups.append([key for key in wanted if key not in suspects])
        vectors = []
        for keys in filter(None, groups):
            with self._guard.holding(keys):
                matrix = np.asarray(self._embedder.embed_documents([wanted[k] for k in keys]))
            vectors += [stored(key, wanted[key], matrix[i]) for i, key in enumerate(keys)]
        self._suspects -= suspects
        return vectors

    def run_until_done(self, should_stop: Callable[[], bool] = lambda: False) -> SyncProgress:
        """Embed everything queued (the CLI's `embed`, tests)."""
        progress = self.start()
        while progress.pending and not should_stop():
            progress = self.step()
        return progress

    def progress(self) -> SyncProgress:
        """What is left. Nothing queued: the model covers the library, and older
        models' vectors go."""
        model = self.model
        with self._db.read() as conn:  # the idle worker asks every second: no write lock
            pending = rows.pending_count(conn)
        if not pending and model.state != rows.READY:
            with self._db.write() as conn:
                pending = rows.pending_count(conn)  # again, inside the write
                if not pending:
                    rows.set_state(conn, model.id, rows.READY)
                    dropped = rows.drop_other_models(conn, model.id)
                    self._model = model = replace(model, state=rows.READY)
                    log.info(
                        "search by meaning uses %s (%s dropped)",
                        model.label,
                        counted(dropped, "older model"),
                    )
        return SyncProgress(self._label, self._embedded, pending, model.state == rows.READY)
