"""The fine-tune job seen from the GUI: `captionist finetune --json` as a QProcess, its JSON
event stream turned into Qt signals.

The GUI runs exactly the command line a user would type (`finetune --json` with the screen's
options), so the screen and the CLI cannot drift apart, and the heavy training packages are
only ever imported in that child process (and its own training child). QProcess delivers the
output on the GUI thread as it arrives, in small chunks: nothing here blocks.

Every run ends in exactly one of `succeeded`, `failed(message)` or `cancelled`, whatever way
the process goes (an `error` event, a crash with no event, a kill after Cancel).
`InstallRunner` runs another command (the training extra's pip install) the same way, its
output shown line by line.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from app.core.desktop.launcher import headless_command

log = logging.getLogger(__name__)

EXIT_OK, EXIT_CANCELLED = 0, 2  # the CLI's exit codes (1: an error event said why)
KILL_AFTER_MS = 8000  # Cancel: SIGTERM first (the job cleans up), then a kill
STDERR_KEPT = 40  # last log lines kept to explain a crash that sent no error event


def cli_command(data_dir: Path, *args: str) -> list[str]:
    """How to run a `captionist` subcommand (as the caption worker is started)."""
    return [*headless_command(), "--data-dir", str(data_dir), *args]


@dataclass(frozen=True)
class FinetuneRequest:
    """The screen's options, as `finetune` command-line flags (None: the CLI's default)."""

    epochs: int | None = None
    rank: int | None = None
    holdout: float | None = None
    force: bool = False
    learning_rate: float | None = None
    method: str | None = None  # "auto" | "lora" | "qlora"
    model: str | None = None  # a catalog model id; None: the one captions are made with
    base_weights: Path | None = None  # its original weights already on disk (no download)

    def cli_args(self) -> list[str]:
        args = ["finetune", "--json"]
        if self.epochs is not None:
            args += ["--epochs", str(self.epochs)]
        if self.rank is not None:
            args += ["--rank", str(self.rank)]
        if self.holdout is not None:
            args += ["--holdout", f"{self.holdout:g}"]
        if self.learning_rate is not None:
            args += ["--learning-rate", f"{self.learning_rate:g}"]
        if self.method is not None:
            args += ["--method", self.method]
        if self.model is not None:
            args += ["--model", self.model]
        if self.base_weights is not None:
            args += ["--base-weights", str(self.base_weights)]
        if self.force:
            args.append("--force")
        return args


def finetune_command(data_dir: Path, request: FinetuneRequest) -> list[str]:
    return cli_command(data_dir, *request.cli_args())


@dataclass(frozen=True)
class StepReport:
    """One `step` event, typed (the screen's progress line and loss curve)."""

    step: int
    total_steps: int
    epoch: float
    epochs: int
    loss: float
    elapsed_seconds: float
    eta_seconds: float | None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> StepReport:
        eta = event.get("eta_seconds")
        return cls(
            step=int(event.get("step") or 0),
            total_steps=int(event.get("total_steps") or 0),
            epoch=float(event.get("epoch") or 0.0),
            epochs=int(event.get("epochs") or 0),
            loss=float(event.get("loss") or 0.0),
            elapsed_seconds=float(event.get("elapsed_seconds") or 0.0),
            eta_seconds=float(eta) if eta is not None else None,
        )


CommandFactory = Callable[[FinetuneRequest], Sequence[str]]


class _LineProcess(QObject):
    """A QProcess whose stdout and stderr come out as whole lines."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self._buffers = {"out": b"", "err": b""}

    def _launch(self, argv: Sequence[str], *, merged: bool = False) -> QProcess:
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")  # events as they happen, not per 8 KB
        environment.insert("PYTHONIOENCODING", "utf-8")
        process.setProcessEnvironment(environment)
        if merged:
            process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(lambda: self._read(process, "out"))
        process.readyReadStandardError.connect(lambda: self._read(process, "err"))
        process.finished.connect(lambda code, status: self._ended(process, code, status))
        process.errorOccurred.connect(lambda error: self._error(process, error))
        self._buffers = {"out": b"", "err": b""}
        self.process = process
        process.start(argv[0], list(argv[1:]))
        return process

    def running(self) -> bool:
        process = self.process
        return process is not None and process.state() != QProcess.ProcessState.NotRunning

    def _read(self, process: QProcess, channel: str) -> None:
        data = bytes(
            process.readAllStandardOutput().data()
            if channel == "out"
            else process.readAllStandardError().data()
        )
        lines = (self._buffers[channel] + data).split(b"\n")
        self._buffers[channel] = lines.pop()
        for line in lines:
            self._line(channel, line.decode("utf-8", errors="replace").rstrip("\r"))

    def _flush(self, process: QProcess) -> None:
        """The last line of output may have no newline; read what is left at the end."""
        for channel in ("out", "err"):
            self._read(process, channel)
            rest, self._buffers[channel] = self._buffers[channel], b""
            if rest:
                self._line(channel, rest.decode("utf-8", errors="replace"))

    def _line(self, channel: str, text: str) -> None:
        raise NotImplementedError

    def _ended(self, process: QProcess, code: int, status: QProcess.ExitStatus) -> None:
        raise NotImplementedError

    def _error(self, process: QProcess, error: QProcess.ProcessError) -> None:
        raise NotImplementedError


class FinetuneBridge(_LineProcess):
    """Runs one fine-tune at a time and reports it as signals (on the GUI thread).

    Give it to the window, not to the screen: a run the user keeps going "in the
    background" outlives the screen, which reattaches with `history()`."""

    event_received = Signal(dict)  # every event, as read (also the app-level ones)
    started = Signal()
    phase_changed = Signal(str, str)  # phase, message
    # done bytes, total bytes or None; "qlonglong" by name: the stubs take only Python types
    download_progressed = Signal("qlonglong", object)  # type: ignore[arg-type]  # 64-bit
    step_reported = Signal(object)  # StepReport
    prepared = Signal(dict)  # {"examples", "heldout", "skipped"}
    evaluated = Signal(str, dict, list)  # "before" | "after", metrics, samples
    trained = Signal(dict)  # the `done` event: adapter files, method, metrics
    registered = Signal(dict)  # the adapter record
    activation_decided = Signal(bool, str, str)  # activated?, adapter id, reason if not
    log_line = Signal(str)  # free-form stderr of the job
    succeeded = Signal()
    failed = Signal(str)  # a message for the user
    cancelled = Signal()

    def __init__(
        self,
        data_dir: Path,
        parent: QObject | None = None,
        *,
        command: CommandFactory | None = None,
    ) -> None:
        super().__init__(parent)
        self._data_dir = Path(data_dir)
        self._command = command or (lambda request: finetune_command(self._data_dir, request))
        self._events: list[dict[str, Any]] = []
        self._stderr: deque[str] = deque(maxlen=STDERR_KEPT)
        self._error_message: str | None = None
        self._cancel_requested = False
        self._saw_cancelled = False
        self._ended_once = False
        self._kill_timer = QTimer(self, singleShot=True, interval=KILL_AFTER_MS)
        self._kill_timer.timeout.connect(self._kill)
        self.last_outcome: str | None = None  # "succeeded" | "failed" | "cancelled"

    # -- what the screen calls ----------------------------------------------------------
    def start(self, request: FinetuneRequest) -> bool:
        """Start a run; False (and nothing happens) if one is already running."""
        if self.running():
            return False
        self._events = []
        self._stderr.clear()
        self._error_message = None
        self._cancel_requested = False
        self._saw_cancelled = False
        self._ended_once = False
        self.last_outcome = None
        argv = list(self._command(request))
        log.info("fine-tune: %s", " ".join(argv))
        self._launch(argv)
        self.started.emit()
        return True

    def cancel(self) -> None:
        """Ask the job to stop (SIGTERM: it removes its partial adapter and exits 2);
        kill it if it has not ended after KILL_AFTER_MS."""
        process = self.process
        if process is None or not self.running():
            return
        self._cancel_requested = True
        if os.name == "nt":  # a console child ignores WM_CLOSE: no gentle stop there
            process.kill()
            return
        process.terminate()
        self._kill_timer.start()

    def history(self) -> list[dict[str, Any]]:
        """The events of the current (or last) run, for a screen opened mid-run."""
        return list(self._events)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """At quit: cancel a running job and wait for it to clean up."""
        process = self.process
        if process is not None and self.running():
            self.cancel()
            if not process.waitForFinished(timeout_ms):
                process.kill()
                process.waitForFinished(1000)

    # -- the process ----------------------------------------------------------------------
    def _line(self, channel: str, text: str) -> None:
        if channel == "err":
            if text.strip():
                self._stderr.append(text)
                self.log_line.emit(text)
            return
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or "event" not in event:
            if text.strip():
                self.log_line.emit(text)  # a stray print: log, not an event
            return
        self._events.append(event)
        self.event_received.emit(event)
        self._dispatch(event)

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "phase":
            self.phase_changed.emit(str(event.get("phase", "")), str(event.get("message", "")))
        elif kind == "download":
            total = event.get("total_bytes")
            self.download_progressed.emit(
                int(event.get("done_bytes") or 0), int(total) if total is not None else None
            )
        elif kind == "step":
            self.step_reported.emit(StepReport.from_event(event))
        elif kind == "prepared":
            self.prepared.emit(event)
        elif kind == "evaluated":
            self.evaluated.emit(
                str(event.get("which", "")),
                dict(event.get("metrics") or {}),
                list(event.get("samples") or []),
            )
        elif kind == "done":
            self.trained.emit(event)
        elif kind == "registered":
            self.registered.emit(dict(event.get("adapter") or {}))
        elif kind == "activated":
            self.activation_decided.emit(True, str(event.get("adapter_id", "")), "")
        elif kind == "not_activated":
            self.activation_decided.emit(
                False, str(event.get("adapter_id", "")), str(event.get("reason", ""))
            )
        elif kind == "error":
            self._error_message = str(event.get("message") or "The fine-tune failed.")
        elif kind == "cancelled":
            self._saw_cancelled = True

    def _ended(self, process: QProcess, code: int, status: QProcess.ExitStatus) -> None:
        if process is not self.process or self._ended_once:
            return
        self._flush(process)
        crashed = status == QProcess.ExitStatus.CrashExit
        if (
            self._saw_cancelled
            or code == EXIT_CANCELLED
            or (self._cancel_requested and (code != EXIT_OK or crashed))
        ):
            self._end("cancelled")
        elif code == EXIT_OK and not crashed and self._error_message is None:
            self._end("succeeded")
        else:
            self._end("failed", self._error_message or self._crash_message(code, crashed))

    def _error(self, process: QProcess, error: QProcess.ProcessError) -> None:
        if process is not self.process or error != QProcess.ProcessError.FailedToStart:
            return  # a crash is reported by `finished` as well
        self._end("failed", f"The fine-tune could not be started ({process.errorString()}).")

    def _end(self, outcome: str, message: str = "") -> None:
        if self._ended_once:
            return
        self._ended_once = True
        self._kill_timer.stop()
        self.last_outcome = outcome
        if outcome == "succeeded":
            self.succeeded.emit()
        elif outcome == "cancelled":
            self.cancelled.emit()
        else:
            self.failed.emit(message)

    def _crash_message(self, code: int, crashed: bool) -> str:
        how = "crashed" if crashed else f"stopped with exit code {code}"
        last = next((line for line in reversed(self._stderr) if line.strip()), "")
        return f"The fine-tune {how}" + (f": {last.strip()}" if last else ".")

    def _kill(self) -> None:
        if self.process is not None and self.running():
            log.warning("fine-tune did not stop after SIGTERM; killing it")
            self.process.kill()


class InstallRunner(_LineProcess):
    """Runs a one-off command (installing the training components) with its output
    line by line, Cancel, and one ending: `finished(ok, message)`."""

    output = Signal(str)
    finished = Signal(bool, str)  # ok, a message for the user

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancelled = False
        self._last = ""

    def start(self, argv: Sequence[str]) -> bool:
        if self.running():
            return False
        self._cancelled = False
        self._last = ""
        self.output.emit("$ " + " ".join(argv))
        self._launch(argv, merged=True)
        return True

    def cancel(self) -> None:
        if self.process is not None and self.running():
            self._cancelled = True
            self.process.kill()  # pip leaves nothing half-installed that a rerun cannot fix

    def shutdown(self, timeout_ms: int = 2000) -> None:
        if self.process is not None and self.running():
            self.cancel()
            self.process.waitForFinished(timeout_ms)

    def _line(self, channel: str, text: str) -> None:
        if text.strip():
            self._last = text.strip()
        self.output.emit(text)

    def _ended(self, process: QProcess, code: int, status: QProcess.ExitStatus) -> None:
        if process is not self.process:
            return
        self._flush(process)
        if self._cancelled:
            self.finished.emit(False, "Installation cancelled.")
        elif code == 0 and status == QProcess.ExitStatus.NormalExit:
            self.finished.emit(True, "Training components installed.")
        else:
            detail = f": {self._last}" if self._last else ""
            self.finished.emit(False, f"Installation failed (exit code {code}){detail}")

    def _error(self, process: QProcess, error: QProcess.ProcessError) -> None:
        if process is self.process and error == QProcess.ProcessError.FailedToStart:
            self.finished.emit(False, f"The installer could not start ({process.errorString()}).")
