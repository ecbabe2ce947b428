"""The training process: `python -m models.finetune.run SPEC.json`.

One process does it all, streaming one JSON event per stdout line (models.finetune.events;
stderr is free-form log):
base weights (download, cached) -> train (peft LoRA / QLoRA) -> save the adapter -> export
to a GGUF LoRA -> verify it loads and captions in llama.cpp with the mmproj -> evaluate
before/after on the held-out examples -> `done`. Everything is written into
`<output_dir>.partial/` and renamed to `output_dir` only at the very end, so a failure
(exit 1, an `error` event) or a cancel (SIGTERM/SIGINT: exit 2, a `cancelled` event) leaves
nothing at `output_dir` and no partial folder either. A second signal stops at once.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

from models.finetune.events import Cancelled as CancelledEvent
from models.finetune.events import (
    Done,
    Download,
    Error,
    FinetuneEvent,
    Phase,
    Step,
    TrainingExit,
)
from models.finetune.spec import SpecError, TrainingSpec

STEP_EVENTS_PER_SECOND = 10
log = logging.getLogger("models.finetune.run")


class Cancelled(Exception):
    pass


class Refused(Exception):
    """A failure with a message for the user (becomes the `error` event)."""


class Events:
    """JSON lines on the real stdout; step events throttled to ~10/s (the last always sent)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        # Re-entrant: a second signal's handler emits `cancelled` on the same thread.
        self._lock = threading.RLock()
        self._last_step = float("-inf")
        self.last_step_event: Step | None = None

    def emit(self, event: FinetuneEvent) -> None:
        with self._lock:
            self._stream.write(event.to_json() + "\n")
            self._stream.flush()

    def step(self, event: Step) -> None:
        self.last_step_event = event
        now = time.monotonic()
        last = event.step == event.total_steps
        if last or now - self._last_step >= 1 / STEP_EVENTS_PER_SECOND:
            self._last_step = now
            self.emit(event)

    def phase(self, phase: str, message: str) -> None:
        log.info("%s: %s", phase, message)
        self.emit(Phase(phase, message))


def peak_rss_mb() -> float:
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
    except ImportError:  # Windows
        import psutil

        info = psutil.Process().memory_info()
        return round(float(getattr(info, "peak_wset", info.rss)) / 1e6, 1)


class Job:
    def __init__(self, spec: TrainingSpec, events: Events, cancel: threading.Event) -> None:
        self.spec, self.events, self.cancel = spec, events, cancel
        self.partial = spec.partial_dir

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def run(self) -> Done:
        spec = self.spec
        plan = self._plan()
        if spec.output_dir.exists():
            raise Refused(f"{spec.output_dir} already exists; an adapter is never overwritten")
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir(parents=True)
        base_dir = self._base_weights()
        peft_dir = self.partial / "peft"
        outcome, method, reason = self._train(base_dir, peft_dir, plan)
        adapter = self._export(peft_dir, base_dir)
        before, after = self._verify_and_evaluate(adapter)
        summary = {
            "model_id": spec.model_id,
            "method": method,
            "method_reason": reason,
            "train_seconds": round(outcome.train_seconds, 3),
            "steps": outcome.steps,
            "final_loss": round(outcome.final_loss, 6),
            "peak_rss_mb": peak_rss_mb(),
            "metrics_before": before.metrics if before else None,
            "metrics_after": after.metrics if after else None,
            "settings": {k: spec.to_dict()[k] for k in ("lora", "train", "method")},
            "examples": [e.id for e in spec.examples],
            "heldout": [e.id for e in spec.heldout],
        }
        (self.partial / "training.json").write_text(json.dumps(summary, indent=1) + "\n")
        self.check_cancel()
        os.replace(self.partial, spec.output_dir)
        return Done(
            adapter_gguf=str(spec.output_dir / "adapter.gguf"),
            peft_dir=str(spec.output_dir / "peft"),
            method=method,
            method_reason=reason,
            train_seconds=summary["train_seconds"],
            peak_rss_mb=summary["peak_rss_mb"],
            final_loss=summary["final_loss"],
            metrics_before=summary["metrics_before"],
            metrics_after=summary["metrics_after"],
        )

    def _plan(self) -> Any:
        from models.finetune.plan import training_plan

        spec = self.spec
        repo = spec.base_weights.repo or (str(spec.base_weights.local_dir or "") or None)
        plan = training_plan(
            spec.model_id,
            base_weights_repo=repo,
            examples=len(spec.examples),
            epochs=spec.train.epochs,
            rank=spec.lora.rank,
            method=spec.method,
        )
        if not plan.possible:
            raise Refused(plan.refusal or "fine-tuning is not possible on this machine")
        return plan

    def _base_weights(self) -> Path:
        from models.errors import DownloadCancelled
        from models.finetune.base_weights import BaseWeightsError, base_weights_dir

        base = self.spec.base_weights
        where = base.local_dir or base.repo
        self.events.phase("download", f"Getting the original weights ({where})")

        def progress(done: int, total: int | None) -> None:
            self.events.emit(Download(done, total))

        try:
            return base_weights_dir(
                base, self.spec.cache_dir, progress=progress, cancel=self.cancel
            )
        except DownloadCancelled:
            raise Cancelled() from None
        except BaseWeightsError as exc:
            raise Refused(str(exc)) from exc

    def _train(self, base_dir: Path, peft_dir: Path, plan: Any) -> tuple[Any, str, str]:
        from models.finetune import dataset, train

        spec = self.spec
        self.events.phase("load", "Loading the model and preparing the corrections")
        try:
            device, reason = train.pick_device(plan.method, plan.precision)
            processor = dataset.load_processor(base_dir)
            fmt = dataset.prompt_format(processor, spec.base_gguf)
            data = dataset.encode_all(
                list(spec.examples), processor, fmt, spec.train.max_image_side, self.cancel.is_set
            )
            self.check_cancel()
            model = train.load_model(base_dir, device)
            self.check_cancel()
            checkpointing = train.wants_checkpointing(model, spec.train)
            model = train.add_lora(model, spec.lora, device, checkpointing, spec.train.seed)
        except (dataset.DatasetError, train.TrainingError) as exc:
            raise Refused(str(exc)) from exc
        except (OSError, ValueError) as exc:
            raise Refused(f"the original weights cannot be loaded for training ({exc})") from exc
        steps = train.total_steps(len(data), spec.train)
        self.events.phase("train", f"Training on {len(data)} corrections: {steps} steps, {reason}")
        try:
            outcome = train.train_loop(
                model,
                data,
                spec.train,
                device,
                on_step=self.events.step,
                should_stop=self.cancel.is_set,
            )
        except train.TrainingCancelled:
            raise Cancelled() from None
        except train.TrainingError as exc:
            raise Refused(str(exc)) from exc
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                raise Refused("training ran out of memory; try fewer or smaller images") from exc
            raise
        train.save_adapter(model, peft_dir)
        del model, data
        gc.collect()
        _free_gpu()
        return outcome, device.method, reason

    def _export(self, peft_dir: Path, base_dir: Path) -> Path:
        from models.finetune.export import ExportCancelled, ExportError, export_adapter
        from models.finetune.llama_tools import ToolsError, ensure_tools

        self.check_cancel()
        self.events.phase("export", "Converting the adapter for llama.cpp (GGUF)")
        adapter = self.partial / "adapter.gguf"
        try:
            tools = ensure_tools()
            export_adapter(peft_dir, base_dir, adapter, tools, should_stop=self.cancel.is_set)
        except ExportCancelled:
            raise Cancelled() from None
        except (ExportError, ToolsError) as exc:
            raise Refused(str(exc)) from exc
        return adapter

    def _verify_and_evaluate(self, adapter: Path) -> tuple[Any, Any]:
        from models.finetune import evaluate as ev
        from models.runtime import CaptionEngine, EngineError

        spec = self.spec
        self.check_cancel()
        self.events.phase("verify", "Checking the adapter in llama.cpp with the vision projector")
        scoring = spec.evaluate and bool(spec.heldout)
        sampling = ev.greedy(spec.answer_limits)
        before = after = None
        try:
            with ev.open_with_adapter(spec, adapter) as engine:
                sample = (spec.heldout or spec.examples)[0]
                ev.verify(engine, sample, self.cancel.is_set)
                if scoring:
                    self.events.phase(
                        "evaluate", f"Captioning {len(spec.heldout)} held-out items with it"
                    )
                    after = ev.evaluate(engine, spec.heldout, self.cancel.is_set, sampling)
            if scoring:
                self.events.phase("evaluate", "Captioning the held-out items without it")
                with CaptionEngine(ev.engine_config(spec, None)) as engine:
                    before = ev.evaluate(engine, spec.heldout, self.cancel.is_set, sampling)
        except ev.EvaluationCancelled:
            raise Cancelled() from None
        except ev.VerifyError as exc:
            raise Refused(str(exc)) from exc
        except EngineError as exc:
            raise Refused(f"llama.cpp could not load the model for evaluation: {exc}") from exc
        if before is not None and after is not None:
            self.events.emit(before.event("before"))
            self.events.emit(after.event("after"))
        return before, after


def _free_gpu() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def _event_stream() -> IO[str]:
    """The real stdout for events; fd 1 itself then points at stderr, so a library (or
    native code) printing to stdout cannot corrupt the event stream."""
    sys.stdout.flush()
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    events = Events(_event_stream())
    cancel = threading.Event()
    job: Job | None = None

    def on_signal(signum: int, _frame: Any) -> None:
        if cancel.is_set():  # asked twice: stop now
            if job is not None:
                shutil.rmtree(job.partial, ignore_errors=True)
            events.emit(CancelledEvent())
            os._exit(TrainingExit.CANCELLED)
        log.info("signal %s: cancelling", signum)
        cancel.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if len(args) != 1:
        events.emit(Error("usage: python -m models.finetune.run SPEC.json"))
        return TrainingExit.ERROR
    try:
        job = Job(TrainingSpec.load(Path(args[0])), events, cancel)
        done = job.run()
    except Cancelled:
        _clean(job)
        events.emit(CancelledEvent())
        return TrainingExit.CANCELLED
    except (Refused, SpecError) as exc:
        _clean(job)
        events.emit(Error(str(exc)))
        return TrainingExit.ERROR
    except Exception as exc:  # noqa: BLE001 - reported as an event, details in the log
        traceback.print_exc()
        _clean(job)
        if cancel.is_set():  # e.g. a library interrupted mid-call by the cancel
            events.emit(CancelledEvent())
            return TrainingExit.CANCELLED
        events.emit(Error(f"training failed unexpectedly: {exc!r}"))
        return TrainingExit.ERROR
    events.emit(done)
    return TrainingExit.OK


def _clean(job: Job | None) -> None:
    if job is not None:
        shutil.rmtree(job.partial, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
