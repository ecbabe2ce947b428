"""One fine-tuning run, headless: the CLI runs it, the GUI runs the CLI.

Everything that can refuse does so before anything starts (no model, a custom model
without a known original, too few corrections, training packages missing, not enough
memory: `models.finetune.plan.training_plan`). Then the corrections are prepared as the
caption worker would caption them, a spec is written, and the training process
(`python -m models.finetune.run SPEC`) does the heavy part; its JSON events are decoded
(models.finetune.events) and passed on as they come, with the job's own around them
(app.core.finetune.events). torch & co. are imported only in that process.

Cancel sends the training process SIGTERM (it removes its partial output) and waits;
nothing is registered. A finished adapter is registered, then activated unless it
scores worse than the model without it (`options.force` activates it anyway).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout

from app.core.captioning.job_settings import SettingsSnapshot
from app.core.captioning.model_choice import NoModel, choose_model
from app.core.datadir import DataDir
from app.core.finetune.adapters import AdapterRecord, AdapterRefused, AdapterRegistry
from app.core.finetune.corrections import DEFAULT_HOLDOUT_SHARE, list_training_corrections
from app.core.finetune.dataset import PreparedDataset, build_spec, prepare_dataset
from app.core.finetune.events import (
    Activated,
    Cancelled,
    Done,
    Error,
    Evaluated,
    FinetuneEvent,
    FinetuneExit,
    NotActivated,
    Phase,
    Plan,
    Prepared,
    Registered,
)
from app.core.storage.db import Database
from models.catalog import load_catalog
from models.finetune import runtime
from models.finetune.events import TRAINING, TrainingExit
from models.finetune.plan import MIN_TRAINING_EXAMPLES, runtime_refusal, training_plan
from models.finetune.spec import SpecError

log = logging.getLogger(__name__)

POLL_S = 0.2
CANCEL_WAIT_S = 60.0  # the training process stops between steps; a step can be slow
LOG_TAIL_LINES = 12


# Which projections of the language model get LoRA. "attention" is the seed article's
# q/v (lightest); "all" is every linear layer of the blocks, as the QLoRA paper
# recommends, and the default: it is what teaches a renamed concept. In the shapes world
# (bench_world_corrections.py) q/v alone never got "disc" said of more than half the
# unseen circles at any learning rate tried, while all layers got 0.93.
LORA_LAYERS: dict[str, tuple[str, ...]] = {
    "attention": ("q_proj", "v_proj"),
    "all": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
}


@dataclass(frozen=True)
class FinetuneOptions:
    epochs: int = 3
    rank: int = 64
    alpha: int | None = None  # None: twice the rank (the seed article's r=64, alpha=128)
    dropout: float = 0.05
    learning_rate: float = 2e-4
    target_modules: tuple[str, ...] = LORA_LAYERS["all"]
    holdout: float = DEFAULT_HOLDOUT_SHARE  # share of corrected items kept for evaluation
    method: str = "auto"  # auto | lora | qlora
    force: bool = False  # activate even if it scores worse than no adapter
    evaluate: bool = True
    seed: int = 0
    # Which model to fine-tune: None is the model captions are made with. The paths
    # replace its GGUF pair (with model_id naming the catalog model they are).
    model_id: str | None = None
    model_path: Path | None = None
    mmproj_path: Path | None = None
    base_weights_dir: Path | None = None  # the original HF weights already on disk
    # Interpreter of the training process. Default: this one; in the packaged app, the
    # private training runtime's (models/finetune/runtime.py), on the code the app ships.
    python: str | None = None


@dataclass(frozen=True)
class FinetuneOutcome:
    status: str  # "done" | "refused" | "failed" | "cancelled"
    message: str | None = None
    adapter: AdapterRecord | None = None
    activated: bool = False
    not_activated_reason: str | None = None
    events: list[FinetuneEvent] = field(default_factory=list, repr=False)

    @property
    def exit_code(self) -> FinetuneExit:
        ending = {"done": FinetuneExit.OK, "cancelled": FinetuneExit.CANCELLED}
        return ending.get(self.status, FinetuneExit.ERROR)


class _Stop(Exception):
    """Ends the run early with an outcome (a refusal, a failure, a cancel)."""

    def __init__(self, status: str, message: str | None = None, *, emitted: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.emitted = status, message, emitted


@dataclass(frozen=True)
class _Base:
    model_id: str
    family: str | None
    base_weights_repo: str | None
    model_path: Path
    mmproj_path: Path


def run_finetune(
    data_dir: DataDir,
    options: FinetuneOptions,
    on_event: Callable[[FinetuneEvent], None],
    should_cancel: Callable[[], bool] = lambda: False,
) -> FinetuneOutcome:
    """Run one fine-tune to the end (or refusal, failure, cancel); never raises for
    what a user can cause: the outcome and the events carry the reason."""
    seen: list[FinetuneEvent] = []

    def emit(event: FinetuneEvent) -> None:
        seen.append(event)
        on_event(event)

    lock = FileLock(str(data_dir.root / "finetune.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        message = "a fine-tune is already running for this library"
        emit(Error(message, refused=True))
        return FinetuneOutcome("refused", message, events=seen)
    db = Database(data_dir.database)
    try:
        return _Run(data_dir, db, options, emit, should_cancel, seen).run()
    finally:
        db.close()
        lock.release()


class _Run:
    def __init__(
        self,
        data_dir: DataDir,
        db: Database,
        options: FinetuneOptions,
        emit: Callable[[FinetuneEvent], None],
        should_cancel: Callable[[], bool],
        seen: list[FinetuneEvent],
    ) -> None:
        self.data_dir, self.db, self.options = data_dir, db, options
        self.emit, self.should_cancel, self.seen = emit, should_cancel, seen
        self.registry = AdapterRegistry(db)

    def run(self) -> FinetuneOutcome:
        job_dir: Path | None = None
        try:
            base = self._base()
            rows = list_training_corrections(self.db, holdout=self.options.holdout)
            train_items = {r.item_id for r in rows if not r.excluded and not r.heldout}
            self._plan(base, len(train_items))
            adapter_id, version = self.registry.new_id(
                base.model_id, adapters_dir=self.data_dir.adapters
            )
            job_dir = self.data_dir.root / "finetune" / adapter_id
            shutil.rmtree(job_dir, ignore_errors=True)
            data = self._prepare(rows, job_dir)
            output_dir = self.data_dir.adapters / adapter_id
            spec = self._spec(
                data,
                model_id=base.model_id,
                family=base.family,
                base_weights_repo=base.base_weights_repo,
                base_weights_dir=_absolute(self.options.base_weights_dir),
                cache_dir=self.data_dir.root / "base_weights",
                base_gguf=base.model_path,
                mmproj=base.mmproj_path,
                output_dir=output_dir,
            )
            spec_path = job_dir / "spec.json"
            spec_path.write_text(spec, encoding="utf-8")
            done = self._train(spec_path, job_dir, output_dir)
            return self._register(done, adapter_id, version, base, data, output_dir)
        except _Stop as stop:
            if stop.status == "cancelled":
                if not any(isinstance(e, Cancelled) for e in self.seen):
                    self.emit(Cancelled())
            elif stop.message is not None and not stop.emitted:
                self.emit(Error(stop.message, refused=stop.status == "refused"))
            return FinetuneOutcome(stop.status, stop.message, events=self.seen)
        finally:
            if job_dir is not None:
                shutil.rmtree(job_dir, ignore_errors=True)

    # -- before anything starts -------------------------------------------------------
    def _base(self) -> _Base:
        options = self.options
        if options.model_path is not None or options.mmproj_path is not None:
            if not (options.model_path and options.mmproj_path and options.model_id):
                raise _Stop(
                    "refused", "a model path needs its mmproj and the catalog id of the model"
                )
            model_id, model_path, mmproj_path = (
                options.model_id,
                options.model_path,
                options.mmproj_path,
            )
        else:
            settings = SettingsSnapshot.read(self.db)
            wanted = {"model": options.model_id} if options.model_id else None
            try:
                choice = choose_model(settings, self.data_dir.models, wanted)
            except NoModel as exc:
                raise _Stop("refused", str(exc)) from exc
            model_id, model_path = choice.model_id, choice.model_path
            mmproj_path = choice.mmproj_path
        entry = load_catalog().get(model_id)
        return _Base(
            model_id,
            entry.family if entry else None,
            entry.base_weights_repo if entry else None,
            model_path,
            mmproj_path,
        )

    def _plan(self, base: _Base, train_examples: int) -> None:
        plan = training_plan(
            base.model_id,
            base_weights_repo=base.base_weights_repo,
            examples=train_examples,
            epochs=self.options.epochs,
            rank=self.options.rank,
            method=self.options.method,
            data_root=self.data_dir.root,
        )
        self.emit(Plan(**asdict(plan)))
        if not plan.possible:
            raise _Stop("refused", plan.refusal or "fine-tuning is not possible here")

    def _prepare(self, rows: list[Any], job_dir: Path) -> PreparedDataset:
        self.emit(Phase("prepare", "Preparing the corrections"))
        data = prepare_dataset(
            self.db,
            rows,
            images_dir=job_dir / "images",
            thumbnails=self.data_dir.thumbnails,
            should_cancel=self.should_cancel,
        )
        if data.cancelled:
            raise _Stop("cancelled")
        self.emit(
            Prepared(
                examples=len(data.examples),
                heldout=len(data.heldout),
                skipped=[s.to_dict() for s in data.skipped],
            )
        )
        if len(data.examples) < MIN_TRAINING_EXAMPLES:
            skipped = f" ({len(data.skipped)} skipped: files gone or unreadable)"
            raise _Stop(
                "refused",
                f"only {len(data.examples)} corrections can be trained on"
                f"{skipped if data.skipped else ''}; at least {MIN_TRAINING_EXAMPLES} are needed",
            )
        return data

    def _spec(self, data: PreparedDataset, **where: Any) -> str:
        try:
            return build_spec(data, settings=self._spec_settings(), **where)
        except SpecError as exc:
            raise _Stop("refused", f"these fine-tuning settings cannot be used: {exc}") from exc

    def _spec_settings(self) -> dict[str, Any]:
        o = self.options
        return {
            "method": o.method,
            "lora": {
                "rank": o.rank,
                "alpha": o.alpha if o.alpha is not None else 2 * o.rank,
                "dropout": o.dropout,
                "target_modules": list(o.target_modules),
            },
            "train": {"epochs": o.epochs, "learning_rate": o.learning_rate, "seed": o.seed},
            "evaluate": o.evaluate,
        }

    # -- the training process ---------------------------------------------------------
    def _train(self, spec_path: Path, job_dir: Path, output_dir: Path) -> Done:
        log_path = job_dir / "train.log"
        python, env = self._interpreter()
        command = [python, "-m", "models.finetune.run"]
        with log_path.open("w", encoding="utf-8") as stderr:
            process = subprocess.Popen(
                [*command, str(spec_path)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                errors="replace",
                cwd=job_dir,
                env={**env, "PYTHONUNBUFFERED": "1"},
            )
            assert process.stdout is not None
            done, error, cancelled = self._relay(process, process.stdout)
        self._keep_log(log_path)
        code = process.returncode
        if cancelled or (code == TrainingExit.CANCELLED and done is None):
            _remove_output(output_dir)
            raise _Stop("cancelled")
        if done is not None and code == TrainingExit.OK:
            return done
        _remove_output(output_dir)
        if error is not None:  # its own error event was passed on already
            raise _Stop("failed", error.message or "training failed", emitted=True)
        tail = _tail(self.data_dir.root / "finetune" / "last-run.log")
        raise _Stop(
            "failed",
            f"the training process stopped unexpectedly (exit code {code})"
            + (f": {tail}" if tail else ""),
        )

    def _interpreter(self) -> tuple[str, dict[str, str]]:
        """(python, environment) of the training process."""
        if self.options.python:
            return self.options.python, dict(os.environ)
        if not runtime.packaged():
            return sys.executable, dict(os.environ)
        python = runtime.ready_python(self.data_dir.root)
        if python is None:  # the plan refuses first; removed since then
            raise _Stop("refused", runtime_refusal())
        return str(python), runtime.training_environment()

    def _relay(
        self, process: subprocess.Popen[str], stdout: IO[str]
    ) -> tuple[Done | None, Error | None, bool]:
        """Pass the process's events on until it exits; SIGTERM it on cancel."""
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=read, name="finetune-events", daemon=True)
        reader.start()
        done: Done | None = None
        error: Error | None = None
        cancelled_at: float | None = None
        while True:
            if cancelled_at is None and self.should_cancel():
                cancelled_at = time.monotonic()
                _signal(process, signal.SIGTERM)
            if cancelled_at is not None and time.monotonic() - cancelled_at > CANCEL_WAIT_S:
                _signal(process, signal.SIGKILL)
            try:
                line = lines.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if line is None:
                break
            event = TRAINING.decode(line)  # anything else is logged there
            if event is None:
                continue
            if isinstance(event, Done):
                done = event
            elif isinstance(event, Error):
                error = event
            self.emit(event)
        process.wait()
        reader.join()
        return done, error, cancelled_at is not None

    def _keep_log(self, log_path: Path) -> None:
        """The last run's log stays beside the jobs (the job folder is removed)."""
        with contextlib.suppress(OSError):
            shutil.copyfile(log_path, self.data_dir.root / "finetune" / "last-run.log")

    # -- after ------------------------------------------------------------------------
    def _register(
        self,
        done: Done,
        adapter_id: str,
        version: int,
        base: _Base,
        data: PreparedDataset,
        output_dir: Path,
    ) -> FinetuneOutcome:
        samples = {
            e.which: e.samples
            for e in self.seen
            if isinstance(e, Evaluated) and e.which in ("before", "after")
        }
        settings = {
            **self._spec_settings(),
            "holdout": self.options.holdout,
            "method_reason": done.method_reason,
            "final_loss": done.final_loss,
            "peak_rss_mb": done.peak_rss_mb,
            "base_weights_repo": base.base_weights_repo,
            "skipped": len(data.skipped),
        }
        peft = done.peft_dir
        record = self.registry.register(
            adapter_id=adapter_id,
            version=version,
            model_id=base.model_id,
            gguf_path=Path(done.adapter_gguf or output_dir / "adapter.gguf"),
            peft_dir=Path(peft) if peft else None,
            base_gguf=base.model_path,
            method=done.method or "lora",
            settings=settings,
            corrections_used=len(data.examples),
            heldout_count=len(data.heldout),
            metrics_before=done.metrics_before,
            metrics_after=done.metrics_after,
            samples=samples or None,
            train_seconds=done.train_seconds,
        )
        self.emit(Registered(record.to_dict()))
        try:
            record = self.registry.activate(adapter_id, force=self.options.force)
        except AdapterRefused as exc:
            self.emit(NotActivated(adapter_id, str(exc)))
            return FinetuneOutcome(
                "done", adapter=record, not_activated_reason=str(exc), events=self.seen
            )
        self.emit(Activated(adapter_id))
        return FinetuneOutcome("done", adapter=record, activated=True, events=self.seen)


def _absolute(path: Path | None) -> Path | None:
    """The training process runs in the job folder: a relative path would move."""
    return path.expanduser().resolve() if path is not None else None


def _signal(process: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signum)


def _remove_output(output_dir: Path) -> None:
    """Belt and braces: the training process removes its partial output itself."""
    for path in (output_dir, output_dir.with_name(output_dir.name + ".partial")):
        shutil.rmtree(path, ignore_errors=True)


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-LOG_TAIL_LINES:])
