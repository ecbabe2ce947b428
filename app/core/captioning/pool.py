"""Captioning over a pool of backends (issue 13): inference servers and/or the
in-process engine, every slot of every healthy member kept busy.

Shape: one thread per slot of each member takes prepared jobs from a shared heap,
most urgent first; the dispatcher (the caller's thread, `run`) claims jobs from the
database queue in batches sized to the free slots plus a small read-ahead, and hands
each to a preparation pool (decode, resize, keyframes) whose results go on the heap.
So a slot that could be sending never waits for a decode, and since the claimed but
unsent jobs are few, "Caption this" (PRIORITY_USER) is claimed within one request's
time and sent first, on whichever member frees first.

Exactly once: each result is stored with `store_caption`, whose claim guard finishes
the job and writes the caption in one transaction; False means the job was cancelled
or requeued meanwhile and nothing is stored. Faults:
- a ServerError with `server_fault` (down, timeout, busy, 5xx, auth): the job goes
  back to the queue (`JobQueue.release`, which does not count the attempt), the
  member's breaker trips (exponential backoff, or the server's Retry-After; then one
  half-open probe), and its other requests in flight are stopped (their should_stop
  turns true) and requeued too, for the other members;
- anything about the item (a bad answer after the client's retry, a request the
  server rejects, AnswerError, MediaError): that job fails with an error naming the
  member.
With no member able to take work, the pool says why (`Waiting`) and waits.

Members are plain CaptionBackends (models/servers/backend.py); optional extras,
looked up with getattr so a backend needs none of them:
- `frames_that_fit(images, timestamps, template, *, language, sampling)`: trims a
  video to the keyframes that fit the model's context (the local engine);
- `supports_adapter(adapter_id) -> bool`: whether the active fine-tuned adapter is
  loaded there; only if True is `caption(..., adapter=adapter_id)` called with it.
  Without it (or False) the member captions with the plain model, says so once
  (`AdapterFailed`), and the caption's provenance records no adapter;
- `is_local = True`: its captions record no server (made on this computer).
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import LargeBinary, bindparam, select, type_coerce

from app.core.captioning.active_adapter import ActiveAdapter, active_adapters
from app.core.captioning.breaker import Breaker
from app.core.captioning.events import (
    AdapterFailed,
    CaptionEvent,
    Failed,
    Finished,
    Idle,
    MemberStatus,
    Paused,
    Started,
    Waiting,
    WorkerExit,
)
from app.core.captioning.events import Cancelled as CancelledEvent
from app.core.captioning.job_settings import SettingsSnapshot, sampling_for
from app.core.captioning.moments import caption_input
from app.core.captioning.prepare import ModelInput, prepare_with
from app.core.captioning.store import Provenance, store_caption
from app.core.jobs import ClaimedJob, JobQueue, claim_jobs, next_queued_id
from app.core.media.errors import MediaError
from app.core.storage.db import Database
from app.core.storage.problems import StorageProblem
from app.core.storage.schema import MediaItem
from app.core.storage.states import ItemState, JobState
from models.answer import AnswerError
from models.prompts import PromptTemplate
from models.runtime import Cancelled, EngineError
from models.servers.backend import CaptionBackend, ServerError, ServerProblem

log = logging.getLogger(__name__)

IDLE_POLL_S = 1.0
MIN_WAIT_S = 0.02
CANCEL_POLL_S = 0.5
STATUS_EVERY_S = 2.0
RATE_WINDOW_S = 60.0
READAHEAD = 2  # jobs claimed and prepared beyond the free slots
# A photo that makes servers fail (HTTP 5xx) this many times in a run is the photo's
# problem, not the servers': it fails with the last error instead of circling the
# pool for ever (llama-server answers 500 for some inputs, see ENGINE-FACTS).
MAX_FAILED_ON_ITEM = 3

_ITEM = select(type_coerce(MediaItem.path, LargeBinary), MediaItem.kind).where(
    MediaItem.id == bindparam("item_id"), MediaItem.state != ItemState.MISSING
)


@dataclass(order=True)
class _Ready:
    """A claimed, prepared job waiting for a slot; the heap orders by `key`."""

    key: tuple[int, int]  # (-priority, job id): most urgent, then oldest
    token: int = field(compare=False)
    job: ClaimedJob = field(compare=False)
    kind: str = field(compare=False)
    prepared: ModelInput = field(compare=False)
    settings: SettingsSnapshot = field(compare=False)
    adapters: dict[str, ActiveAdapter] = field(compare=False)


class _Member:
    """A backend and what the pool knows about it; guarded by the pool's lock."""

    def __init__(self, backend: CaptionBackend, breaker: Breaker) -> None:
        self.backend = backend
        self.name = backend.name
        self.slots = max(1, backend.slots)
        self.breaker = breaker
        self.in_flight = 0
        self.reason: str | None = None  # the error that tripped the breaker
        self.finished_at: deque[float] = deque()
        self.started = time.monotonic()
        self.warned_adapters: set[str] = set()
        self.reported: tuple[bool, str | None] | None = None  # last MemberStatus sent

    @property
    def server(self) -> str | None:
        return None if getattr(self.backend, "is_local", False) else self.name

    def per_minute(self, now: float) -> float:
        while self.finished_at and now - self.finished_at[0] > RATE_WINDOW_S:
            self.finished_at.popleft()
        window = min(RATE_WINDOW_S, max(now - self.started, 1.0))
        return round(len(self.finished_at) / window * 60, 2)


class CaptionPool:
    """Runs the queue over `members` until it is empty (or, `forever`, until `stop`).

    `on_stored(item_id, settings)` runs after each stored caption (the worker writes
    the file's metadata there), `on_done()` after each job that left the queue for
    good (stored, failed or cancelled: the worker's progress); events go to `emit`,
    one at a time.
    `adapter_model`: the catalog model whose active adapter a server member should
    apply (the servers serve the user's chosen model; the local member's own model
    is looked up by its model_id)."""

    def __init__(
        self,
        db: Database,
        members: Sequence[CaptionBackend],
        *,
        prompts: dict[str, PromptTemplate],
        thumbnails: Path,
        emit: Callable[[CaptionEvent], None],
        stop: threading.Event,
        forever: bool = False,
        min_priority: int | None = None,
        on_stored: Callable[[int, SettingsSnapshot], None] = lambda _i, _s: None,
        on_done: Callable[[], None] = lambda: None,
        adapter_model: str | None = None,
        readahead: int = READAHEAD,
        prepare_threads: int = 2,
        breaker: Callable[[], Breaker] = Breaker,
        waiting_reason: str | None = None,
    ) -> None:
        self._db = db
        self._jobs = JobQueue(db)
        self._members = [_Member(b, breaker()) for b in members]
        self._prompts = prompts
        self._thumbnails = thumbnails
        self._emit_unlocked = emit
        self._emit_lock = threading.Lock()
        self.stop = stop
        self._forever = forever
        self._min_priority = min_priority
        self._on_stored = on_stored
        self._on_done = on_done
        self._adapter_model = adapter_model
        self._readahead = readahead
        self._waiting_reason = waiting_reason
        self._lock = threading.Condition()
        self._ready: list[_Ready] = []
        # Claimed jobs not yet stored, failed or released, by claim (a job released
        # and claimed again is a new claim): token -> job id.
        self._open: dict[int, int] = {}
        self._tokens = itertools.count()
        self._failures_on: dict[int, int] = {}  # job id -> 5xx answers on it this run
        self._next_queued = select(next_queued_id(min_priority=min_priority))
        self._finished = False  # the slot threads may leave
        self._fatal: BaseException | None = None
        self._prepare_pool = ThreadPoolExecutor(prepare_threads, thread_name_prefix="prepare")
        self._threads: list[threading.Thread] = []

    # -- the dispatcher -------------------------------------------------------------
    def run(self) -> int:
        for member in self._members:
            for slot in range(member.slots):
                thread = threading.Thread(
                    target=self._slot, args=(member,), name=f"slot {member.name} {slot}"
                )
                thread.start()
                self._threads.append(thread)
        try:
            return self._dispatch()
        finally:
            with self._lock:
                self._finished = True
                self._lock.notify_all()
            for thread in self._threads:
                thread.join()
            self._prepare_pool.shutdown(wait=True, cancel_futures=True)
            self._release_leftovers()
            self._report_members(force=True)

    def _dispatch(self) -> int:
        last_status = 0.0
        while not self.stop.is_set():
            self._raise_fatal()
            settings = SettingsSnapshot.read(self._db)
            if self._forever and settings.queue_paused:
                self._emit(Paused())
                self.stop.wait(IDLE_POLL_S)
                continue
            if time.monotonic() - last_status >= STATUS_EVERY_S:
                self._report_members(force=True)
                last_status = time.monotonic()
            with self._lock:
                capacity = sum(m.breaker.capacity(m.slots) for m in self._members)
                outstanding = len(self._open)
                # Read ahead only for a member that is up: a probe goes alone.
                ahead = self._readahead if any(m.breaker.closed for m in self._members) else 0
            if capacity == 0:
                # Nobody can send: what waits for a slot goes back to the queue (not
                # held as running while every server is down), and the user hears why.
                outstanding -= self._return_ready()
                if outstanding == 0 and not self._queue_has_work():
                    if not self._forever:
                        return WorkerExit.DONE
                    self._emit(Idle())
                else:
                    self._emit(Waiting(self._why_waiting()))
                self._sleep(self._next_probe_s())
                continue
            want = capacity + ahead - outstanding
            claimed = self._claim(want, settings) if want > 0 else 0
            if claimed == 0 and outstanding == 0:
                if not self._forever:
                    return WorkerExit.DONE
                self._emit(Idle())
                self.stop.wait(IDLE_POLL_S)
                continue
            self._sleep(IDLE_POLL_S)
        self._raise_fatal()
        return WorkerExit.DONE

    def _sleep(self, seconds: float) -> None:
        """Until a slot frees, a job leaves, a breaker may let a probe through, or
        `seconds` (the dispatcher's poll for new jobs) pass."""
        with self._lock:
            if not self.stop.is_set() and seconds > 0:
                self._lock.wait(min(seconds, IDLE_POLL_S))

    def _raise_fatal(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def _queue_has_work(self) -> bool:
        with self._db.read() as conn:
            return conn.execute(self._next_queued).scalar() is not None

    def _return_ready(self) -> int:
        """Release the prepared jobs no slot took; returns how many."""
        with self._lock:
            tasks, self._ready = self._ready, []
            for task in tasks:
                self._open.pop(task.token, None)
        for task in tasks:
            self._jobs.release(task.job.id)
        return len(tasks)

    def _why_waiting(self) -> str:
        if not self._members:
            return self._waiting_reason or "no inference server is set up to caption with"
        with self._lock:
            reasons = [f"{m.name}: {m.reason or 'backing off'}" for m in self._members]
        return "no inference server can take captions now (" + "; ".join(reasons) + ")"

    def _next_probe_s(self) -> float:
        """When the first backed-off member may be probed (a probe in flight wakes
        the dispatcher when it ends), at most IDLE_POLL_S and never a busy loop."""
        with self._lock:
            waits = [m.breaker.wait_s() for m in self._members if not m.breaker.probing]
        return max(MIN_WAIT_S, min([IDLE_POLL_S, *waits]))

    def _claim(self, n: int, settings: SettingsSnapshot) -> int:
        with self._db.write() as conn:
            jobs = claim_jobs(conn, n, min_priority=self._min_priority)
            items = {
                job.id: conn.execute(_ITEM, {"item_id": job.item_id}).first()
                for job in jobs
                if job.item_id is not None
            }
            adapters = active_adapters(conn) if jobs else {}
        for job in jobs:
            found = items.get(job.id)
            if found is None or job.item_id is None:
                self._jobs.finish(job.id, error="the item is no longer in the library")
                self._on_done()
                continue
            token = next(self._tokens)
            with self._lock:
                self._open[token] = job.id
            path, kind = found[0], found[1]
            future = self._prepare_pool.submit(self._prepare, job.item_id, path, kind, settings)
            future.add_done_callback(
                functools.partial(self._prepared, token, job, kind, settings, adapters)
            )
        return len(jobs)

    def _prepare(
        self, item_id: int, path: bytes, kind: str, settings: SettingsSnapshot
    ) -> ModelInput:
        return prepare_with(
            settings.media_options(), item_id, path, kind, thumbnails=self._thumbnails
        )

    def _prepared(
        self,
        token: int,
        job: ClaimedJob,
        kind: str,
        settings: SettingsSnapshot,
        adapters: dict[str, ActiveAdapter],
        future: Future[ModelInput],
    ) -> None:
        if future.cancelled():
            return  # shutting down: released with the leftovers
        error = future.exception()
        if error is None:
            ready = _Ready(
                (-job.priority, job.id), token, job, kind, future.result(), settings, adapters
            )
            with self._lock:
                heapq.heappush(self._ready, ready)
                self._lock.notify_all()
            return
        with self._guard(token, job):
            if isinstance(error, MediaError):
                self._jobs.finish(job.id, error=str(error))
                self._emit(Failed(job.id, job.item_id, str(error)))
                self._on_done()
            else:
                raise error

    # -- the slots ------------------------------------------------------------------
    def _slot(self, member: _Member) -> None:
        while True:
            with self._lock:
                while True:
                    if self._finished or self.stop.is_set() or self._fatal is not None:
                        return
                    if self._ready and member.breaker.may_send(member.in_flight, member.slots):
                        task = heapq.heappop(self._ready)
                        member.in_flight += 1
                        epoch = member.breaker.epoch
                        break
                    wait = member.breaker.wait_s() or IDLE_POLL_S
                    self._lock.wait(max(MIN_WAIT_S, min(wait, IDLE_POLL_S)))
            try:
                self._caption(member, task, epoch)
            finally:
                with self._lock:
                    member.in_flight -= 1
                    self._lock.notify_all()
            self._report_members()

    def _caption(self, member: _Member, task: _Ready, epoch: int) -> None:
        job, prepared, settings = task.job, task.prepared, task.settings
        item_id = prepared.item_id
        with self._guard(task.token, job):
            self._emit(Started(job.id, item_id, task.kind))
            started = time.perf_counter()
            backend = member.backend
            template = settings.template(self._prompts, (job.params or {}).get("prompt"))
            sampling = sampling_for(settings, template)
            if job.safe_mode:
                sampling = sampling.safe()
            adapter = self._adapter_for(member, task.adapters)
            try:
                fit = getattr(backend, "frames_that_fit", None)
                if prepared.timestamps is not None and fit is not None:
                    prepared = prepared.keeping(
                        fit(
                            prepared.images,
                            prepared.timestamps,
                            template,
                            language=settings.caption_language,
                            sampling=sampling,
                        )
                    )
                extra = {"adapter": adapter} if adapter is not None else {}
                result = caption_input(
                    backend.caption,
                    prepared,
                    template,
                    language=settings.caption_language,
                    sampling=sampling,
                    should_stop=self._stop_check(job.id, member, epoch),
                    moments_per_keyframe=settings.moments_per_keyframe,
                    **extra,
                )
            except Cancelled:
                self._cancelled(member, job, epoch)
                return
            except ServerError as exc:
                if exc.server_fault and not self._failed_too_often(job, exc):
                    self._server_fault(member, job, epoch, exc)
                    return
                if exc.server_fault:  # the item, after all: the server is not to blame
                    self._item_failed(
                        member,
                        job,
                        epoch,
                        f"{exc} (servers failed on this item {MAX_FAILED_ON_ITEM} times; "
                        "skipped so the rest gets captioned)",
                    )
                    return
                self._item_failed(member, job, epoch, str(exc))
                return
            except (MediaError, EngineError, AnswerError) as exc:
                self._item_failed(member, job, epoch, _naming(member, exc))
                return
            with self._lock:
                member.breaker.succeeded(epoch)
                member.finished_at.append(time.monotonic())
                if member.breaker.closed:
                    member.reason = None
            made_by = Provenance(backend.model_id, template.id, adapter, server=member.server)
            stored = store_caption(self._db, job.id, prepared, result.answer, made_by)
            seconds = round(time.perf_counter() - started, 3)
            answer = result.answer
            frames = len(prepared.images) if prepared.timestamps is not None else None
            if stored:
                self._emit(
                    Finished(
                        job.id,
                        job.item_id,
                        seconds,
                        answer.caption,
                        list(answer.tags),
                        frames,
                        member.server,
                    )
                )
                self._on_stored(item_id, settings)
            else:
                self._emit(
                    CancelledEvent(job.id, job.item_id, seconds, answer.caption, list(answer.tags))
                )
            self._on_done()

    def _adapter_for(self, member: _Member, adapters: dict[str, ActiveAdapter]) -> str | None:
        active = adapters.get(member.backend.model_id) or (
            adapters.get(self._adapter_model) if self._adapter_model else None
        )
        if active is None:
            return None
        supports = getattr(member.backend, "supports_adapter", None)
        if supports is not None and supports(active.id):
            return active.id
        with self._lock:
            first = active.id not in member.warned_adapters
            member.warned_adapters.add(active.id)
        if first:
            self._emit(
                AdapterFailed(
                    model=member.backend.model_id,
                    adapter=active.id,
                    error=f"{member.name} does not have the fine-tuned adapter {active.id} "
                    "loaded: captioning there without it",
                )
            )
        return None

    def _cancelled(self, member: _Member, job: ClaimedJob, epoch: int) -> None:
        with self._lock:
            tripped = member.breaker.epoch != epoch
        if self.stop.is_set() or tripped:
            self._jobs.release(job.id)  # not this item's fault: back to the queue
        if not tripped:
            self._emit(CancelledEvent(job.id, job.item_id))
            self._on_done()

    def _failed_too_often(self, job: ClaimedJob, exc: ServerError) -> bool:
        if exc.problem != ServerProblem.FAILED:
            return False  # down, busy, timed out, refused the key: not about the item
        with self._lock:
            self._failures_on[job.id] = count = self._failures_on.get(job.id, 0) + 1
        return count >= MAX_FAILED_ON_ITEM

    def _server_fault(self, member: _Member, job: ClaimedJob, epoch: int, exc: ServerError) -> None:
        self._jobs.release(job.id)  # another member (or this one, later) takes it
        with self._lock:
            tripped = member.breaker.failed(epoch, exc.retry_after)
            if tripped:
                member.reason = str(exc)
            self._lock.notify_all()
        if tripped:
            log.warning("%s backed off: %s", member.name, exc)
            self._report_members()

    def _item_failed(self, member: _Member, job: ClaimedJob, epoch: int, error: str) -> None:
        with self._lock:
            member.breaker.succeeded(epoch)  # it answered: the server itself is fine
            if member.breaker.closed:
                member.reason = None
        self._jobs.finish(job.id, error=error)
        self._emit(Failed(job.id, job.item_id, error))
        self._on_done()

    def _stop_check(self, job_id: int, member: _Member, epoch: int) -> Callable[[], bool]:
        """Stop on shutdown, when the member tripped since this request left (its
        jobs go to the others), or once the user cancelled the job (polled at most
        every CANCEL_POLL_S)."""
        last = [time.monotonic()]

        def should_stop() -> bool:
            if self.stop.is_set() or member.breaker.epoch != epoch:
                return True
            if time.monotonic() - last[0] < CANCEL_POLL_S:
                return False
            last[0] = time.monotonic()
            return self._jobs.state_of(job_id) != JobState.RUNNING

        return should_stop

    @contextmanager
    def _guard(self, token: int, job: ClaimedJob) -> Iterator[None]:
        """The claim leaves the pool's books whatever happens (before the job can be
        released and claimed again); a storage problem stops the whole pool (the
        worker reports it and exits)."""
        try:
            yield
        except StorageProblem as exc:
            with suppress(StorageProblem):
                self._jobs.release(job.id)
            with self._lock:
                self._fatal = self._fatal or exc
                self._lock.notify_all()
        except BaseException as exc:
            log.exception("job %s: unexpected error in the caption pool", job.id)
            with suppress(StorageProblem):
                self._jobs.finish(job.id, error=f"unexpected error: {exc}")
            self._emit(Failed(job.id, job.item_id, f"unexpected error: {exc}"))
        finally:
            self._forget(token)

    def _forget(self, token: int) -> None:
        with self._lock:
            self._open.pop(token, None)
            self._lock.notify_all()

    def _release_leftovers(self) -> None:
        """Jobs claimed but never sent (stopping, a fatal error): back to the queue."""
        with self._lock:
            left = sorted(self._open.values())
            self._open.clear()
            self._ready.clear()
        for job_id in left:
            with suppress(StorageProblem):
                self._jobs.release(job_id)

    # -- status -----------------------------------------------------------------------
    def _report_members(self, *, force: bool = False) -> None:
        now = time.monotonic()
        events = []
        with self._lock:
            for member in self._members:
                healthy = member.breaker.closed
                state = (healthy, member.reason)
                if force or state != member.reported:
                    member.reported = state
                    events.append(
                        MemberStatus(
                            member.name,
                            healthy,
                            None if healthy else member.reason,
                            member.in_flight,
                            member.per_minute(now),
                        )
                    )
        for event in events:
            self._emit(event)

    def _emit(self, event: CaptionEvent) -> None:
        with self._emit_lock:
            self._emit_unlocked(event)


def _naming(member: _Member, exc: Exception) -> str:
    """The per-item error, naming the server that could not caption it (the local
    engine's errors read as they always have)."""
    if member.server is None:
        return str(exc)
    return f"{member.name}: {exc}"
