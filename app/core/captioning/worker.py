"""The caption worker: claims jobs, keeps the model loaded, stores captions.

It runs in its own process (`captionist worker`), started by the GUI's supervisor or
the CLI, so that a native crash in llama.cpp costs one job, not the app. Events go
to a callback (the CLI prints them as JSON lines for the supervisor). Only one
worker runs per data directory at a time (a lock file), so crash recovery at start
can tell jobs a dead worker left running from jobs someone is working on.

The active fine-tuned adapter of the job's model (app.core.finetune.adapters) is read
with each claim and applied over the model; when it changes the engine is reloaded.
An adapter llama.cpp cannot use is reported once (`adapter_failed`) and the worker
captions with the plain model instead of failing every job.

Inference servers (issue 13): with the setting `caption_backends` at "servers" or
"both", the worker hands the queue to a CaptionPool (pool.py) over the server
members it was given (`members`: backends, or a callable making them when the run
starts; the worker closes them) plus, for "both", the engine as one more member.
At "local" (the default) the serial loop below runs exactly as it always has.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from filelock import FileLock, Timeout
from sqlalchemy import LargeBinary, Select, bindparam, select, type_coerce

from app.core.captioning.active_adapter import ActiveAdapter, active_adapters
from app.core.captioning.events import (
    AdapterFailed,
    CaptionEvent,
    EmbeddingFailed,
    Failed,
    Fatal,
    Finished,
    Idle,
    MetadataFailed,
    ModelLoaded,
    Paused,
    Progress,
    Recovered,
    Started,
    WorkerExit,
)
from app.core.captioning.events import Cancelled as CancelledEvent
from app.core.captioning.job_settings import MediaOptions, SettingsSnapshot, sampling_for
from app.core.captioning.local_backend import LocalBackend
from app.core.captioning.model_choice import ModelChoice, NoModel, choose_model
from app.core.captioning.moments import caption_input
from app.core.captioning.pool import CaptionPool
from app.core.captioning.prepare import ModelInput, prepare_with
from app.core.captioning.store import Provenance, store_caption
from app.core.captioning.supervisor import worker_lock_path
from app.core.datadir import DataDir
from app.core.jobs import ClaimedJob, JobQueue, claim_next_job, next_queued_id
from app.core.media.errors import MediaError
from app.core.metadata.write_back import write_metadata
from app.core.semantic.model_choice import EmbeddingModelMissing, choose_embedding_model
from app.core.semantic.worker_loop import EmbeddingLoop
from app.core.settings import CaptionBackends, GpuOffload, Settings
from app.core.storage.db import Database
from app.core.storage.problems import LibraryDamaged, StorageProblem
from app.core.storage.schema import Job, MediaItem
from app.core.storage.states import ItemState, JobState
from models.answer import AnswerError
from models.prompts import PromptTemplate, builtin_prompts
from models.runtime import Cancelled, CaptionEngine, EngineConfig, EngineError
from models.servers.backend import CaptionBackend

log = logging.getLogger(__name__)

IDLE_POLL_S = 1.0
CANCEL_POLL_S = 0.5
PROGRESS_RECOUNT_S = 1.0
NO_SERVERS = (
    "captioning is set to use inference servers, but none is set up: add one in "
    "Settings → Models → Inference servers, or caption on this computer"
)

Members = Sequence[CaptionBackend] | Callable[[], Sequence[CaptionBackend]]


@dataclass(frozen=True)
class _Claimed:
    job: ClaimedJob
    item: tuple[int, bytes, str] | None  # id, path and kind; None: not in the library
    upcoming: tuple[int, bytes, str] | None  # the same of the job after it, to prefetch
    adapters: dict[str, ActiveAdapter]  # each model's active adapter, read with the claim


@dataclass(frozen=True)
class _Prefetch:
    item_id: int
    options: MediaOptions
    future: Future[ModelInput]


class CaptionWorker:
    def __init__(
        self,
        data_dir: DataDir,
        *,
        on_event: Callable[[CaptionEvent], None] = lambda _e: None,
        override: dict[str, Any] | None = None,
        forever: bool = False,
        min_priority: int | None = None,
        stop: threading.Event | None = None,
        members: Members | None = None,
        mode: CaptionBackends | None = None,
    ) -> None:
        self._data_dir = data_dir
        self._members = members  # inference servers (issue 13); made when the run starts
        self._mode = mode  # None: the setting caption_backends
        # Each DataDir property makes its folder (a system call): once, not per job.
        self._models_dir, self._thumbnails_dir = data_dir.models, data_dir.thumbnails
        self._emit = _serialised(on_event)  # the embedding thread speaks too
        self._captioning = threading.Event()  # set while a caption is being made
        self._embedding: EmbeddingLoop | None = None
        self._override = override
        self._forever = forever
        self._min_priority = min_priority  # `caption` only wants the jobs it queued
        self.stop = stop or threading.Event()
        self._db = Database(data_dir.database, on_lock_wait=self._wait_for_lock)
        self._jobs = JobQueue(self._db)
        self._prompts = builtin_prompts()  # package data: fixed while the process runs
        self._engine: CaptionEngine | None = None
        self._engine_choice: ModelChoice | None = None
        self._engine_adapter: ActiveAdapter | None = None  # applied in the loaded engine
        self._failed_adapters: set[ActiveAdapter] = set()  # reported; not tried again
        self._broken_models: dict[ModelChoice, str] = {}  # jobs' own models that failed
        self._prefetch_pool = ThreadPoolExecutor(1, thread_name_prefix="prefetch")
        self._prefetched: _Prefetch | None = None
        self._session_started = time.monotonic()
        self._session_done = 0
        self._counted: tuple[float, int, int] | None = None  # (when, done then, open then)
        self._next_item = _next_item_query(min_priority)

    # -- lifecycle ------------------------------------------------------------------
    def run(self) -> int:
        # A native abort in llama.cpp must not spend seconds in gdb printing a
        # backtrace into the log (ggml reads this when the library loads).
        os.environ.setdefault("GGML_NO_BACKTRACE", "1")
        lock = FileLock(str(worker_lock_path(self._data_dir.root)))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            self._emit(Fatal("another caption worker is already running"))
            return WorkerExit.ALREADY_RUNNING
        try:
            requeued, failed = self._jobs.recover_interrupted()
            if requeued or failed:
                self._emit(Recovered(requeued, failed))
            self._embedding = self._start_embedding()
            code = self._loop()
            if self._embedding is not None:  # `caption`: the new captions' vectors too
                self._embedding.finish(drain=not self._forever and not self.stop.is_set())
            return code
        except LibraryDamaged as exc:  # never written again; the window offers repair
            self._emit(Fatal(str(exc), "damaged"))
            return WorkerExit.DAMAGED
        except StorageProblem as exc:  # the library, not a file: nothing to blame
            self._emit(Fatal(str(exc), "storage"))
            return WorkerExit.STORAGE
        finally:
            if self._embedding is not None:
                self._embedding.finish(drain=False)
            self._prefetch_pool.shutdown(wait=True, cancel_futures=True)
            if self._engine is not None:
                self._engine.close()
            self._db.close()
            lock.release()

    def _start_embedding(self) -> EmbeddingLoop | None:
        """Search by meaning (issue 14): caption vectors kept in step on a second
        thread, when an embedding model is chosen and installed."""
        setting = Settings(self._db).read().embedding_model
        try:
            choice = choose_embedding_model(setting, self._models_dir)
        except EmbeddingModelMissing as exc:
            self._emit(EmbeddingFailed(str(exc)))
            return None
        if choice is None:
            return None
        loop = EmbeddingLoop(
            self._db,
            choice,
            emit=self._emit,
            captioning=self._captioning,
            forever=self._forever,
            data_root=self._data_dir.root,
        )
        loop.start()
        return loop

    def _wait_for_lock(self, waited_s: float) -> bool:
        """Another process holds the library's write lock: wait (saying so) until it
        lets go, or until asked to stop; the job in hand is not the file's fault."""
        log.warning(
            "waiting for the library: another process has been writing for %.0f s", waited_s
        )
        return not self.stop.is_set()

    def _loop(self) -> int:
        mode = self._mode or SettingsSnapshot.read(self._db).caption_backends
        if mode != CaptionBackends.LOCAL:
            return self._run_pool(mode)
        while not self.stop.is_set():
            settings = SettingsSnapshot.read(self._db)  # the one settings read per job
            # Pause is for the background worker; `caption` asked for these files now.
            if self._forever and settings.queue_paused:
                self._emit(Paused())
                self.stop.wait(IDLE_POLL_S)
                continue
            claimed = self._claim()
            if claimed is None:
                if not self._forever:
                    return WorkerExit.DONE
                self._emit(Idle())
                self.stop.wait(IDLE_POLL_S)
                continue
            self._captioning.set()
            try:
                code = self._run_job(claimed, settings)
            finally:
                self._captioning.clear()
            if code is not None:
                return code
            self._session_done += 1
            self._emit_progress()
        return WorkerExit.DONE

    # -- the pool (issue 13) ------------------------------------------------------------
    def _run_pool(self, mode: CaptionBackends) -> int:
        """The queue over the server members (and, "both", the engine as one more)."""
        members = list(self._members() if callable(self._members) else self._members or ())
        settings = SettingsSnapshot.read(self._db)
        try:
            choice: ModelChoice | None = choose_model(settings, self._models_dir, self._override)
        except NoModel as exc:
            choice = None
            if mode == CaptionBackends.BOTH and not members:
                self._emit(Fatal(str(exc), "no_model"))
                return WorkerExit.NO_MODEL
        if mode == CaptionBackends.BOTH and choice is not None:
            with self._db.read() as conn:
                adapter = active_adapters(conn).get(choice.model_id)
            try:
                self._engine_for(choice, adapter, settings)
            except EngineError as exc:
                if not members:
                    self._emit(Fatal(str(exc), "model_broken"))
                    return WorkerExit.MODEL_BROKEN
                log.warning("captioning on the servers only: %s", exc)
            if self._engine is not None:
                used = self._engine_adapter
                local = LocalBackend(self._engine, adapter_id=used.id if used else None)
                self._engine = None  # the backend owns it now (closed with the members)
                members = [local, *members]
        emit, lock = self._emit, threading.RLock()

        def locked_emit(event: CaptionEvent) -> None:
            with lock:
                emit(event)

        def done() -> None:
            with lock:
                self._session_done += 1
                self._emit_progress()

        self._emit = locked_emit  # the pool's threads share the event stream
        pool = CaptionPool(
            self._db,
            members,
            prompts=self._prompts,
            thumbnails=self._thumbnails_dir,
            emit=locked_emit,
            stop=self.stop,
            forever=self._forever,
            min_priority=self._min_priority,
            on_stored=self._write_metadata,
            on_done=done,
            adapter_model=choice.model_id if choice is not None else None,
            waiting_reason=NO_SERVERS,
        )
        try:
            return pool.run()
        finally:
            self._emit = emit
            for member in members:
                with contextlib.suppress(Exception):
                    member.close()

    # -- one job --------------------------------------------------------------------
    def _claim(self) -> _Claimed | None:
        """The next job, its item and the item of the job after it (to prefetch), in
        one transaction: per caption, a transaction costs more than these queries."""
        with self._db.write() as conn:
            job = claim_next_job(conn, min_priority=self._min_priority)
            if job is None:
                return None
            found = None
            if job.item_id is not None:
                found = conn.execute(_ITEM, {"item_id": job.item_id}).first()
            upcoming = conn.execute(self._next_item).first()
            adapters = active_adapters(conn)
        return _Claimed(
            job,
            (job.item_id, found[0], found[1]) if found and job.item_id is not None else None,
            (upcoming[0], upcoming[1], upcoming[2]) if upcoming else None,
            adapters,
        )

    def _run_job(self, claimed: _Claimed, settings: SettingsSnapshot) -> int | None:
        """Caption one item. Returns an exit code when the worker cannot go on."""
        job = claimed.job
        if claimed.item is None:
            self._jobs.finish(job.id, error="the item is no longer in the library")
            return None
        item_id, path, kind = claimed.item
        options = settings.media_options()
        # A job's own model ("Caption again with…") is that job's choice: if it cannot
        # be used, those jobs fail with the reason and the rest of the queue goes on.
        # The worker's own model failing stops the worker (reported once; the
        # supervisor waits for another model instead of restarting into it).
        own = (job.params or {}).get("model_override")
        try:
            choice = choose_model(settings, self._models_dir, own or self._override)
            if own and choice in self._broken_models:
                raise EngineError(self._broken_models[choice])
            adapter = claimed.adapters.get(choice.model_id)
            if adapter in self._failed_adapters:
                adapter = None
            if self._engine is None or (choice, adapter) != (
                self._engine_choice,
                self._engine_adapter,
            ):
                self._prefetch(item_id, path, kind, options)  # decoded while it loads
            engine = self._engine_for(choice, adapter, settings)
        except (NoModel, EngineError) as exc:
            if own:
                if isinstance(exc, EngineError):
                    self._broken_models[choice] = str(exc)
                self._jobs.finish(job.id, error=str(exc))
                self._emit(Failed(job.id, job.item_id, str(exc)))
                return None
            self._jobs.release(job.id)
            if isinstance(exc, NoModel):
                self._emit(Fatal(str(exc), "no_model"))
                return WorkerExit.NO_MODEL
            self._emit(Fatal(str(exc), "model_broken"))
            return WorkerExit.MODEL_BROKEN
        self._emit(Started(job.id, item_id, kind))
        started = time.perf_counter()
        try:
            prepared = self._prepared(item_id, path, kind, options)
            if claimed.upcoming is not None:  # decoded while the model works on this one
                self._prefetch(*claimed.upcoming, options)
            template = self._template(job.params, settings)
            sampling = sampling_for(settings, template)
            if job.safe_mode:  # the engine crashed on this file twice: last try, safe
                log.warning("job %s: trying once more in the engine's safe mode", job.id)
                sampling = sampling.safe()
            if prepared.timestamps is not None:  # a video: send the keyframes that fit
                prepared = prepared.keeping(
                    engine.frames_that_fit(
                        prepared.images,
                        prepared.timestamps,
                        template,
                        language=settings.caption_language,
                        sampling=sampling,
                    )
                )
            result = caption_input(
                engine.caption,
                prepared,
                template,
                language=settings.caption_language,
                sampling=sampling,
                should_stop=self._stop_check(job.id),
                moments_per_keyframe=settings.moments_per_keyframe,
            )
        except Cancelled:
            if self.stop.is_set():
                self._jobs.release(job.id)  # shutting down: not this item's fault
            self._emit(CancelledEvent(job.id, job.item_id))
            return None
        except StorageProblem:
            self._release_if_possible(job.id)
            raise
        except (MediaError, EngineError, AnswerError) as exc:
            self._jobs.finish(job.id, error=str(exc))
            self._emit(Failed(job.id, job.item_id, str(exc)))
            return None
        used = self._engine_adapter
        made_by = Provenance(choice.model_id, template.id, used.id if used else None)
        stored = store_caption(self._db, job.id, prepared, result.answer, made_by)
        seconds = round(time.perf_counter() - started, 3)
        answer = result.answer
        frames = len(prepared.images) if prepared.timestamps is not None else None
        if stored:
            self._emit(
                Finished(job.id, job.item_id, seconds, answer.caption, list(answer.tags), frames)
            )
        else:
            self._emit(
                CancelledEvent(job.id, job.item_id, seconds, answer.caption, list(answer.tags))
            )
        if stored and job.item_id is not None:  # a caption job always names its item
            self._write_metadata(job.item_id, settings)
        return None

    def _release_if_possible(self, job_id: int) -> None:
        """Back to the queue: the worker stops for the library's sake, not the file's."""
        with contextlib.suppress(StorageProblem):  # else the next worker requeues it
            self._jobs.release(job_id)

    def _write_metadata(self, item_id: int, settings: SettingsSnapshot) -> None:
        """The caption as XMP beside or in the file (the user's setting); a file that
        cannot take it is reported, and captioning goes on."""
        report = write_metadata(self._db, [item_id], settings.metadata_write)
        for item, reason in report.errors.items():
            self._emit(MetadataFailed(item, reason))

    def _emit_progress(self) -> None:
        """Done / total this session, the rate and the time left, for progress bars.

        The jobs still open are counted at most every PROGRESS_RECOUNT_S and counted
        down by the jobs done in between: a count per caption cost more than a small
        model's caption once a large library was queued. Jobs queued or cancelled by
        others show within that second; the count is exact again whenever it reaches
        zero, so the last event of a run is right."""
        now = time.monotonic()
        left = 0
        if self._counted is not None:
            counted_at, done_then, open_then = self._counted
            if now - counted_at < PROGRESS_RECOUNT_S:
                left = open_then - (self._session_done - done_then)
        if left <= 0:
            left = self._jobs.open_count()
            self._counted = (now, self._session_done, left)
        elapsed = max(now - self._session_started, 1e-6)
        per_minute = self._session_done / elapsed * 60
        self._emit(
            Progress(
                done=self._session_done,
                total=self._session_done + left,
                per_minute=round(per_minute, 2),
                eta_seconds=round(left / per_minute * 60, 1) if per_minute else None,
            )
        )

    def _engine_for(
        self, choice: ModelChoice, adapter: ActiveAdapter | None, settings: SettingsSnapshot
    ) -> CaptionEngine:
        if self._engine is None or (choice, adapter) != (self._engine_choice, self._engine_adapter):
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            self._engine, self._engine_adapter = self._load(choice, adapter, settings)
            self._engine_choice = choice
            self._emit(
                ModelLoaded(
                    model=choice.model_id,
                    adapter=self._engine_adapter.id if self._engine_adapter else None,
                    seconds=round(self._engine.load_seconds, 3),
                    gpu_layers=self._engine.n_gpu_layers,
                )
            )
        return self._engine

    def _load(
        self, choice: ModelChoice, adapter: ActiveAdapter | None, settings: SettingsSnapshot
    ) -> tuple[CaptionEngine, ActiveAdapter | None]:
        """The engine with the adapter, or without it when the adapter cannot be used
        (reported once; the plain model still captions). A model that fails to load
        on its own raises EngineError as before."""
        config = self._engine_config(choice, settings)
        if adapter is not None:
            try:
                return CaptionEngine(replace(config, lora_path=adapter.gguf_path)), adapter
            except EngineError as exc:
                self._failed_adapters.add(adapter)
                self._emit(
                    AdapterFailed(
                        model=choice.model_id,
                        adapter=adapter.id,
                        error=f"the fine-tuned adapter {adapter.id} could not be used, "
                        f"captioning without it: {exc}",
                    )
                )
        return CaptionEngine(config), None

    def _engine_config(self, choice: ModelChoice, settings: SettingsSnapshot) -> EngineConfig:
        layers = {GpuOffload.CPU: 0, GpuOffload.LAYERS: settings.gpu_layers}.get(
            settings.gpu_offload
        )
        return EngineConfig(
            choice.model_path,
            choice.mmproj_path,
            model_id=choice.model_id,
            n_ctx=choice.n_ctx,
            n_gpu_layers=layers,
            image_max_tokens=choice.image_max_tokens,
        )

    def _template(
        self, params: dict[str, Any] | None, settings: SettingsSnapshot
    ) -> PromptTemplate:
        return settings.template(self._prompts, (params or {}).get("prompt"))

    def _stop_check(self, job_id: int) -> Callable[[], bool]:
        """Stop generating on shutdown, or once the user cancelled this job (polled
        at most every CANCEL_POLL_S: a database read per token would slow it down)."""
        last = [time.monotonic()]

        def should_stop() -> bool:
            if self.stop.is_set():
                return True
            if time.monotonic() - last[0] < CANCEL_POLL_S:
                return False
            last[0] = time.monotonic()
            return self._jobs.state_of(job_id) != JobState.RUNNING

        return should_stop

    # -- overlapping media preparation with inference ---------------------------------
    def _prepared(self, item_id: int, path: bytes, kind: str, options: MediaOptions) -> ModelInput:
        pending = self._prefetched
        if pending is not None and pending.item_id == item_id:
            self._prefetched = None
            if pending.options == options:
                try:
                    ready = pending.future.result()
                    if ready.mtime_ns == _mtime(path):
                        return ready
                except MediaError:
                    pass  # prepared again below, so the error reflects the file as it is now
        return self._prepare(item_id, path, kind, options)

    def _prefetch(self, item_id: int, path: bytes, kind: str, options: MediaOptions) -> None:
        pending = self._prefetched
        if pending is not None and pending.item_id == item_id and pending.options == options:
            return
        future = self._prefetch_pool.submit(self._prepare, item_id, path, kind, options)
        self._prefetched = _Prefetch(item_id, options, future)

    def _prepare(self, item_id: int, path: bytes, kind: str, options: MediaOptions) -> ModelInput:
        # No database reads here: on the prefetch thread they held the GIL that the
        # model's sampling loop on the main thread was waiting for.
        return prepare_with(options, item_id, path, kind, thumbnails=self._thumbnails_dir)


_ITEM = select(type_coerce(MediaItem.path, LargeBinary), MediaItem.kind).where(
    MediaItem.id == bindparam("item_id"), MediaItem.state != ItemState.MISSING
)


def _serialised(emit: Callable[[CaptionEvent], None]) -> Callable[[CaptionEvent], None]:
    """`emit` for several threads: one event at a time (one JSON line each)."""
    lock = threading.RLock()

    def locked(event: CaptionEvent) -> None:
        with lock:
            emit(event)

    return locked


def _next_item_query(min_priority: int | None) -> Select[int, bytes, str]:
    """(item id, path, kind) of the job `claim_next` takes next, if its file is there;
    only the jobs this worker claims (`caption` takes only those it queued). Built
    once per worker: building it costs more than running it."""
    return (
        select(MediaItem.id, type_coerce(MediaItem.path, LargeBinary), MediaItem.kind)
        .select_from(Job)
        .join(MediaItem, MediaItem.id == Job.item_id)
        .where(
            Job.id == next_queued_id(min_priority=min_priority),
            MediaItem.state != ItemState.MISSING,
        )
    )


def _mtime(path: bytes) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None
