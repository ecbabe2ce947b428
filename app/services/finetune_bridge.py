"""The fine-tune job seen from the GUI: `captionist finetune --json` as a QProcess, its JSON
event stream decoded once (app.core.finetune.events) and turned into Qt signals.

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

import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from app.core.desktop.launcher import headless_command
from app.core.finetune.events import (
    FINETUNE_JOB,
    Activated,
    Cancelled,
    Done,
    Download,
    Error,
    Evaluated,
    FinetuneEvent,
    FinetuneExit,
    NotActivated,
    Phase,
    Prepared,
    Registered,
    Step,
)

log = logging.getLogger(__name__)

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

    event_received = Signal(object)  # every FinetuneEvent, as read (also the job's own)
    started = Signal()
    phase_changed = Signal(str, str)  # phase, message
    # done bytes, total bytes or None; "qlonglong" by name: the stubs take only Python types
    download_progressed = Signal("qlonglong", object)  # type: ignore[arg-type]  # "qlonglong": stubs take types only
    step_reported = Signal(object)  # Step
    prepared = Signal(object)  # Prepared
    evaluated = Signal(str, dict, list)  # "before" | "after", metrics, samples
    trained = Signal(object)  # Done: adapter files, method, metrics
    registered = Signal(dict)  # the adapter record (AdapterRecord.to_dict())
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
        self._events: list[FinetuneEvent] = []
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

    def history(self) -> list[FinetuneEvent]:
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
        event = FINETUNE_JOB.decode(text)  # anything else is logged there
        if event is None:
            if text.strip():
                self.log_line.emit(text)  # a stray print: shown with the log, not an event
            return
        self._events.append(event)
        self.event_received.emit(event)
        self._dispatch(event)

    def _dispatch(self, event: FinetuneEvent) -> None:
        match event:
            case Phase():
                self.phase_changed.emit(event.phase, event.message)
            case Download():
                self.download_progressed.emit(event.done_bytes, event.total_bytes)
            case Step():
                self.step_reported.emit(event)
            case Prepared():
                self.prepared.emit(event)
            case Evaluated():
                self.evaluated.emit(event.which, dict(event.metrics), list(event.samples))
            case Done():
                self.trained.emit(event)
            case Registered():
                self.registered.emit(dict(event.adapter))
            case Activated():
                self.activation_decided.emit(True, event.adapter_id, "")
            case NotActivated():
                self.activation_decided.emit(False, event.adapter_id, event.reason)
            case Error():
                self._error_message = event.message or "The fine-tune failed."
            case Cancelled():
                self._saw_cancelled = True

    def _ended(self, process: QProcess, code: int, status: QProcess.ExitStatus) -> None:
        if process is not self.process or self._ended_once:
            return
        self._flush(process)
        crashed = status == QProcess.ExitStatus.CrashExit
        if (
            self._saw_cancelled
            or code == FinetuneExit.CANCELLED
            or (self._cancel_requested and (code != FinetuneExit.OK or crashed))
        ):
            self._end("cancelled")
        elif code == FinetuneExit.OK and not crashed and self._error_message is None:
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

    KILL_AFTER_MS = 10_000  # Cancel asks it to stop first (the packaged app's installer
    # then stops uv and removes its partial runtime); a program that ignores that is killed

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancelled = False
        self._last = ""
        self._kill_timer = QTimer(self, singleShot=True, interval=self.KILL_AFTER_MS)
        self._kill_timer.timeout.connect(self._kill)

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
            if os.name == "nt":  # a console program gets no SIGTERM there
                self.process.kill()
                return
            self.process.terminate()
            self._kill_timer.start()

    def _kill(self) -> None:
        if self.process is not None and self.running():
            self.process.kill()  # pip leaves nothing half-installed that a rerun cannot fix

    def shutdown(self, timeout_ms: int = 5000) -> None:
        if self.process is not None and self.running():
            self.cancel()
            if not self.process.waitForFinished(timeout_ms):
                self._kill()
                self.process.waitForFinished(timeout_ms)
        self._kill_timer.stop()

    def _line(self, channel: str, text: str) -> None:
        if text.strip():
            self._last = text.strip()
        self.output.emit(text)

    def _ended(self, process: QProcess, code: int, status: QProcess.ExitStatus) -> None:
        if process is not self.process:
            return
        self._kill_timer.stop()
        self._flush(process)
        if self._cancelled:
            self.finished.emit(False, "Installation cancelled.")
        elif code == 0 and status == QProcess.ExitStatus.NormalExit:
            self.finished.emit(True, "Training components installed.")
        else:
            if self._last.startswith("error: "):  # the packaged app's installer says why
                self.finished.emit(False, self._last.removeprefix("error: "))
                return
            detail = f": {self._last}" if self._last else ""
            self.finished.emit(False, f"Installation failed (exit code {code}){detail}")

    def _error(self, process: QProcess, error: QProcess.ProcessError) -> None:
        if process is self.process and error == QProcess.ProcessError.FailedToStart:
            self.finished.emit(False, f"The installer could not start ({process.errorString()}).")
