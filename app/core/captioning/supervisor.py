"""Keeps a caption worker process running, and tells its owner what it does.

The worker prints JSON events, one per line; the supervisor reads them on its own
thread, decodes each once (app.core.captioning.events) and passes the typed events
on. If the worker dies (a native crash in llama.cpp, out of memory, kill -9) it is
restarted with growing pauses; the job it was on is requeued by the next worker,
tried in the engine's safe mode after a second crash on it, and failed after a crash
in safe mode too (JobQueue.recover_interrupted, ClaimedJob.safe_mode).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from filelock import FileLock, Timeout

from app.core.captioning.events import (
    CAPTION_WORKER,
    CaptionEvent,
    Crashed,
    Finished,
    WorkerExit,
)
from app.core.desktop.launcher import headless_command

log = logging.getLogger(__name__)

BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
WAITING_RETRY_S = 20.0


def worker_lock_path(data_dir: Path) -> Path:
    """The lock a caption worker holds while it runs (one per data directory)."""
    return data_dir / "worker.lock"


def worker_is_running(data_dir: Path) -> bool:
    """Whether a caption worker holds this data directory's lock right now."""
    lock = FileLock(str(worker_lock_path(data_dir)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def worker_command(data_dir: Path, *extra: str) -> list[str]:
    """How to start `captionist worker`: this interpreter running main.py, or from a
    bundle its console executable."""
    return [*headless_command(), "--data-dir", str(data_dir), "worker", *extra]


class WorkerSupervisor:
    def __init__(
        self,
        data_dir: Path,
        *,
        on_event: Callable[[CaptionEvent], None],
        forever: bool = True,
        extra_args: Sequence[str] = (),
        backoff: Sequence[float] = BACKOFF_S,
    ) -> None:
        self._data_dir = data_dir
        self._on_event = on_event
        self._args = (["--forever"] if forever else []) + list(extra_args)
        self._backoff = backoff
        self._stopping = threading.Event()
        self._restarting = threading.Event()
        self._wake = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self.crashes = 0

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._supervise, name="worker-supervisor", daemon=True
        )
        self._thread.start()

    def nudge(self) -> None:
        """Something changed (a model was installed): try again now instead of waiting."""
        self._wake.set()

    def restart(self) -> None:
        """Start the worker anew (who captions changed: the inference servers or the
        mode): the running one finishes its request, puts its jobs back and exits;
        the next one reads the new settings. Not a crash: no backoff, no event."""
        self._restarting.set()
        self._wake.set()
        self._terminate(self._process)

    def _terminate(self, process: subprocess.Popen[str] | None) -> None:
        if process is not None and process.poll() is None:
            if sys.platform == "win32":
                process.send_signal(signal.CTRL_BREAK_EVENT)
            else:
                process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the worker to finish (it re-queues its job) and wait; kill it if it lingers."""
        self._stopping.set()
        self._wake.set()
        process = self._process
        if process is not None and process.poll() is None:
            self._terminate(process)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            code, finished_a_job = self._run_once()
            if self._stopping.is_set():
                break
            if self._restarting.is_set():
                self._restarting.clear()
                continue
            if code == WorkerExit.DONE:
                return  # the queue is empty and this worker was not asked to wait
            if code in (
                WorkerExit.NO_MODEL,
                WorkerExit.MODEL_BROKEN,
                WorkerExit.ALREADY_RUNNING,
                WorkerExit.STORAGE,
                WorkerExit.DAMAGED,
            ):
                # Nothing to do until a model is installed or chosen (a model that cannot
                # load fails the same way on restart), the other worker ends, or the
                # library can be written again: look again when nudged, or now and then.
                self._wait(WAITING_RETRY_S)
                continue
            failures = 0 if finished_a_job else failures + 1
            self.crashes += 1
            delay = self._backoff[min(failures, len(self._backoff) - 1)]
            self._on_event(Crashed(exit_code=code, restart_in=delay))
            self._wait(delay)

    def _run_once(self) -> tuple[int, bool]:
        creation = 0
        if sys.platform == "win32":
            creation = subprocess.CREATE_NEW_PROCESS_GROUP
        process = subprocess.Popen(
            worker_command(self._data_dir, *self._args),
            # No gdb backtrace from ggml when llama.cpp aborts: seconds per crash, and
            # a log full of it.
            env={**os.environ, "GGML_NO_BACKTRACE": "1"},
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            creationflags=creation,
        )
        self._process = process
        finished = self._pump(process.stdout)
        return process.wait(), finished

    def _pump(self, stream: IO[str] | None) -> bool:
        finished = False
        for line in stream or ():
            event = CAPTION_WORKER.decode(line)  # anything else is logged there
            if event is None:
                continue
            finished = finished or isinstance(event, Finished)
            try:
                self._on_event(event)
            except Exception:
                log.exception("worker event handler failed")
        return finished

    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()
