"""`captionist finetune` and `captionist adapters`: fine-tuning from the command line.

`finetune` runs the same job the "Fine-tune on my corrections" screen starts (the
screen runs this very command with --json and reads the event stream). Exit codes:
0 done, 1 refused or failed, 2 cancelled (SIGTERM or Ctrl+C stops the training
process, which leaves no adapter behind).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from app.core.captioning.job_settings import SettingsSnapshot
from app.core.captioning.model_choice import NoModel, choose_model
from app.core.datadir import DataDir
from app.core.finetune.adapters import METRIC_NAMES, AdapterRecord, AdapterRefused, AdapterRegistry
from app.core.finetune.corrections import DEFAULT_HOLDOUT_SHARE, MAX_HOLDOUT_SHARE
from app.core.finetune.events import (
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
    Plan,
    Prepared,
    Registered,
    Step,
)
from app.core.finetune.job import LORA_LAYERS, FinetuneOptions, run_finetune
from app.core.storage.db import Database

PRINT_EVERY_S = 1.0  # human progress: at most a step line a second


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    tune = sub.add_parser(
        "finetune", parents=[common], help="fine-tune the caption model on your corrections"
    )
    tune.add_argument("--epochs", type=int, default=3, metavar="N", help="passes over the data")
    tune.add_argument("--rank", type=int, default=64, metavar="R", help="LoRA rank")
    tune.add_argument(
        "--holdout",
        type=float,
        default=DEFAULT_HOLDOUT_SHARE,
        metavar="F",
        help="share of corrected items kept aside to measure before and after (0 to 0.9)",
    )
    tune.add_argument("--learning-rate", type=float, default=2e-4, metavar="LR")
    tune.add_argument(
        "--layers",
        choices=sorted(LORA_LAYERS),
        default="all",
        help="language-model layers LoRA trains: all linear layers (default) or attention (q/v)",
    )
    tune.add_argument("--method", choices=("auto", "lora", "qlora"), default="auto")
    tune.add_argument("--model", metavar="ID", help="a catalog model (default: the active one)")
    tune.add_argument(
        "--base-weights", metavar="DIR", help="its original Hugging Face weights, already on disk"
    )
    tune.add_argument("--json", action="store_true", help="print the event stream (JSON lines)")
    tune.add_argument(
        "--force", action="store_true", help="activate the adapter even if it scores worse"
    )

    adapters = sub.add_parser("adapters", parents=[common], help="list and choose adapters")
    actions = adapters.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="adapters, newest first")
    listing.add_argument("--model", metavar="M", help="only this model's")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    activate = actions.add_parser("activate", parents=[common], help="caption with an adapter")
    activate.add_argument("id", metavar="ID")
    activate.add_argument("--force", action="store_true", help="even if it scores worse")
    for name, text in (
        ("deactivate", "caption with the plain model"),
        ("rollback", "go back to the adapter active before"),
    ):
        action = actions.add_parser(name, parents=[common], help=text)
        action.add_argument("--model", metavar="M", help="default: the active caption model")
    delete = actions.add_parser("delete", parents=[common], help="delete an adapter's files")
    delete.add_argument("id", metavar="ID")


# -- finetune ---------------------------------------------------------------------------
def cmd_finetune(data_dir: DataDir, args: argparse.Namespace) -> int:
    problem = _bad_option(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return FinetuneExit.ERROR
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    signal.signal(signal.SIGINT, lambda *_: cancel.set())
    options = FinetuneOptions(
        epochs=args.epochs,
        rank=args.rank,
        holdout=args.holdout,
        learning_rate=args.learning_rate,
        target_modules=LORA_LAYERS[args.layers],
        method=args.method,
        force=args.force,
        model_id=args.model,
        base_weights_dir=Path(args.base_weights).expanduser().resolve()
        if args.base_weights
        else None,
    )
    printer = _JsonPrinter() if args.json else _HumanPrinter()
    outcome = run_finetune(data_dir, options, printer, cancel.is_set)
    return outcome.exit_code


def _bad_option(args: argparse.Namespace) -> str | None:
    if args.epochs < 1:
        return "--epochs must be at least 1"
    if args.rank < 1:
        return "--rank must be at least 1"
    if not 0.0 < args.learning_rate < 1.0:
        return "--learning-rate must be between 0 and 1"
    if not 0.0 <= args.holdout <= MAX_HOLDOUT_SHARE:
        return f"--holdout must be between 0 and {MAX_HOLDOUT_SHARE}"
    if args.base_weights and not Path(args.base_weights).expanduser().is_dir():
        return f"--base-weights: no such folder: {args.base_weights}"
    return None


class _JsonPrinter:
    def __call__(self, event: FinetuneEvent) -> None:
        print(event.to_json(), flush=True)


class _HumanPrinter:
    """Progress lines a person can follow, and the before/after scores at the end."""

    def __init__(self) -> None:
        self._last_print = 0.0

    def __call__(self, event: FinetuneEvent) -> None:
        match event:
            case Plan():
                self._plan(event)
            case Phase():
                self._say(f"[{event.phase}] {event.message}".rstrip())
            case Download():
                self._download(event)
            case Prepared():
                self._prepared(event)
            case Step():
                self._step(event)
            case Evaluated():
                label = "without the adapter" if event.which == "before" else "with the adapter"
                self._say(f"  held-out {label}: {_scores(event.metrics)}")
            case Done():
                self._done(event)
            case Registered():
                self._say(f"adapter {event.adapter['id']} saved")
            case Activated():
                self._say(f"captions are now made with adapter {event.adapter_id}")
            case NotActivated():
                self._say(f"not activated: {event.reason}")
                self._say(
                    f"  to use it anyway: captionist adapters activate {event.adapter_id} --force"
                )
            case Error():
                print(f"error: {event.message}", file=sys.stderr, flush=True)
            case Cancelled():
                self._say("cancelled; no adapter was saved")

    def _say(self, text: str) -> None:
        print(text, flush=True)

    def _plan(self, e: Plan) -> None:
        if e.possible:
            self._say(
                f"{e.method} on {e.device}: {e.method_reason}; needs about "
                f"{e.memory_needed_gb:.1f} GB of {e.memory_available_gb:.1f} GB, "
                f"roughly {_duration(e.estimated_seconds)}"
            )

    def _download(self, e: Download) -> None:
        now = time.monotonic()
        total = e.total_bytes
        finished = total is not None and e.done_bytes >= total
        if now - self._last_print < PRINT_EVERY_S and not finished:
            return
        self._last_print = now
        of = f" of {total / 1e6:.1f}" if total else ""
        self._say(f"  downloaded {e.done_bytes / 1e6:.1f}{of} MB")

    def _prepared(self, e: Prepared) -> None:
        self._say(f"{e.examples} corrected items to train on, {e.heldout} held out to measure")
        for skipped in e.skipped:
            self._say(f"  skipped {skipped['path']}: {skipped['reason']}")

    def _step(self, e: Step) -> None:
        now = time.monotonic()
        last = e.step >= e.total_steps
        if now - self._last_print < PRINT_EVERY_S and not last and e.step != 1:
            return
        self._last_print = now
        eta = e.eta_seconds
        self._say(
            f"  step {e.step}/{e.total_steps}  epoch {e.epoch:.2f}/{e.epochs}  "
            f"loss {e.loss:.4f}" + (f"  ETA {_duration(eta)}" if eta is not None else "")
        )

    def _done(self, e: Done) -> None:
        loss = e.final_loss
        self._say(
            f"trained in {_duration(e.train_seconds or 0)} ({e.method})"
            + (f", final loss {loss:.4f}" if loss is not None else "")
        )
        before, after = e.metrics_before, e.metrics_after
        if before and after:
            self._say("held-out scores, before → after:")
            for key, name in METRIC_NAMES.items():
                if key in before and key in after:
                    self._say(f"  {name:<8} {before[key]:.3f} → {after[key]:.3f}")
        else:
            self._say("no held-out corrections: before/after not measured")


# -- adapters ---------------------------------------------------------------------------
def cmd_adapters(data_dir: DataDir, args: argparse.Namespace) -> int:
    db = Database(data_dir.database)
    try:
        registry = AdapterRegistry(db)
        if args.action == "list":
            return _list(registry, args)
        if args.action == "delete":
            registry.delete(args.id)
            print(f"deleted {args.id}")
            return FinetuneExit.OK
        if args.action == "activate":
            record = registry.activate(args.id, force=args.force)
            print(f"captions are now made with adapter {record.id} ({record.model_id})")
            return FinetuneExit.OK
        model = args.model or _caption_model(db, data_dir)
        if args.action == "deactivate":
            was = registry.deactivate(model)
            print(
                f"{model}: adapter {was.id} deactivated" if was else f"{model}: no adapter active"
            )
            return FinetuneExit.OK
        back = registry.rollback(model)
        print(f"{model}: back to adapter {back.id}" if back else f"{model}: back to no adapter")
        return FinetuneExit.OK
    except (AdapterRefused, NoModel) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return FinetuneExit.ERROR
    finally:
        db.close()


def _caption_model(db: Database, data_dir: DataDir) -> str:
    return choose_model(SettingsSnapshot.read(db), data_dir.models).model_id


def _list(registry: AdapterRegistry, args: argparse.Namespace) -> int:
    records = registry.list(args.model)
    if args.json:
        print(json.dumps([r.to_dict() for r in records], ensure_ascii=False, indent=2))
        return FinetuneExit.OK
    if not records:
        print("no adapters yet (run `captionist finetune`)")
    for r in records:
        print(_line(r))
    return FinetuneExit.OK


def _line(r: AdapterRecord) -> str:
    mark = "*" if r.active else " "
    created = datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M")
    scores = ""
    if r.metrics_before and r.metrics_after:
        before, after = r.metrics_before.get("cider", 0.0), r.metrics_after.get("cider", 0.0)
        scores = f"  CIDEr {before:.3f} → {after:.3f}"
    return (
        f"{mark} {r.id:<24} {r.model_id:<16} {created}  {r.method:<5} "
        f"{r.corrections_used} trained, {r.heldout_count} held out{scores}"
    )


def _scores(metrics: dict[str, float]) -> str:
    return "  ".join(f"{name} {metrics[k]:.3f}" for k, name in METRIC_NAMES.items() if k in metrics)


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
