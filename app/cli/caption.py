"""`captionist caption` and `captionist worker`: captioning from the command line.

`caption` queues the given files at the top of the queue and runs a supervised
worker process for just those jobs (or waits for the app's worker if it is
already running), then prints what the model wrote.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any

from app.core.captioning.events import CaptionEvent, Fatal, WorkerExit
from app.core.captioning.model_choice import NoModel, choose_model
from app.core.captioning.supervisor import WorkerSupervisor
from app.core.captions import MODEL, CaptionStore
from app.core.datadir import DataDir
from app.core.jobs import PRIORITY_USER
from app.core.library.handover import index_paths
from app.core.library.library import Library
from app.core.storage.job_rows import item_kind, newest_job, open_job_count
from app.core.storage.schema import Keyframe

EXIT_USAGE = 2
POLL_S = 0.3


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    caption = sub.add_parser("caption", parents=[common], help="caption photos and videos now")
    caption.add_argument("paths", nargs="+", metavar="PATH")
    _model_options(caption)
    caption.add_argument("--prompt", metavar="NAME", help="short, detailed, alt-text, tags")
    caption.add_argument("--json", action="store_true", help="print a JSON array")

    worker = sub.add_parser("worker", parents=[common], help="process the caption queue")
    worker.add_argument("--forever", action="store_true", help="wait for new jobs")
    worker.add_argument("--min-priority", type=int, default=None, help=argparse.SUPPRESS)
    _model_options(worker)


def _model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--model", metavar="ID", help="an installed catalog model")
    group.add_argument("--model-path", metavar="FILE", help="a local GGUF model")
    parser.add_argument("--mmproj", metavar="FILE", help="its vision projector (with --model-path)")


def _override(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.model_path:
        return {"model_path": args.model_path, "mmproj_path": args.mmproj}
    if args.model:
        return {"model": args.model}
    return None


def _override_args(args: argparse.Namespace) -> list[str]:
    if args.model_path:
        return ["--model-path", args.model_path, "--mmproj", args.mmproj or ""]
    return ["--model", args.model] if args.model else []


def cmd_worker(data_dir: DataDir, args: argparse.Namespace) -> int:
    from app.core.captioning.worker import CaptionWorker  # loads llama.cpp: only here

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def emit(event: CaptionEvent) -> None:
        print(event.to_json(), flush=True)

    worker = CaptionWorker(
        data_dir,
        on_event=emit,
        override=_override(args),
        forever=args.forever,
        min_priority=args.min_priority,
        stop=stop,
    )
    return worker.run()


def cmd_caption(library: Library, data_dir: DataDir, args: argparse.Namespace) -> int:
    if args.model_path and not args.mmproj:
        print("error: --model-path needs --mmproj (the model's vision projector)", file=sys.stderr)
        return EXIT_USAGE
    try:
        choose_model(library.settings.read(), data_dir.models, _override(args))
    except NoModel as exc:
        print(f"error: {exc}", file=sys.stderr)
        return WorkerExit.NO_MODEL
    items, results = _add_items(library, args.paths)
    params = {"prompt": args.prompt, "model_override": _override(args)}
    library.jobs.enqueue(items.values(), priority=PRIORITY_USER, params=params)
    fatal = _run_until_done(library, data_dir, args, list(items.values()))
    if fatal:
        print(f"error: {fatal}", file=sys.stderr)
        return WorkerExit.NO_MODEL
    for path, item_id in items.items():
        results[path] = _result(library, path, item_id)
    ordered = [results[p] for p in args.paths]
    if args.json:
        print(json.dumps(ordered, ensure_ascii=False, indent=2))
    else:
        for r in ordered:
            print(
                f"{r['path']}\n    "
                + (
                    f"error: {r['error']}"
                    if r["error"]
                    else f"{r['caption']}  [{', '.join(r['tags'])}]"
                )
            )
            for m in r.get("moments", []):
                print(f"    {m['timestamp']:7.1f}s  {m['caption']}")
    return 0


def _add_items(library: Library, paths: list[str]) -> tuple[dict[str, int], dict[str, Any]]:
    """Index the files (adding their folders to the library as needed)."""
    indexed = index_paths(library, paths, folders=False)
    results = {given: _failed(given, reason) for given, reason in indexed.errors.items()}
    return {given: ids[0] for given, ids in indexed.items.items()}, results


def _run_until_done(
    library: Library, data_dir: DataDir, args: argparse.Namespace, item_ids: list[int]
) -> str | None:
    fatal: list[str] = []

    def on_event(event: CaptionEvent) -> None:
        if isinstance(event, Fatal) and event.needs_a_model:
            fatal.append(event.error)

    supervisor = WorkerSupervisor(
        data_dir.root,
        on_event=on_event,
        forever=False,
        extra_args=["--min-priority", str(PRIORITY_USER), *_override_args(args)],
    )
    supervisor.start()
    try:
        while _open_jobs(library, item_ids) and not fatal:
            time.sleep(POLL_S)
    finally:
        supervisor.stop()
    return fatal[0] if fatal else None


def _open_jobs(library: Library, item_ids: list[int]) -> int:
    with library.db.read() as conn:
        return open_job_count(conn, item_ids)


def _failed(path: str, error: str) -> dict[str, Any]:
    return {"path": path, "caption": None, "tags": [], "model": None, "error": error}


def _result(library: Library, path: str, item_id: int) -> dict[str, Any]:
    with library.db.read() as conn:
        job = newest_job(conn, item_id)
        kind = item_kind(conn, item_id)
    if job is None or job[0] != "done":
        return _failed(
            path, job[1] if job and job[1] else f"not captioned ({job[0] if job else '?'})"
        )
    history = CaptionStore(library.db).history(item_id)
    made = next(c for c in history if c.source == MODEL)
    current = history and CaptionStore(library.db).current(item_id)
    result: dict[str, Any] = {
        "path": path,
        "caption": made.text,
        "tags": made.tags,
        "model": made.model_id,
        "prompt": made.prompt_id,
        "language": made.language,
        "error": None,
        "kept_user_caption": bool(current and current.source != MODEL),
    }
    if kind == "video":
        result["moments"] = _moments(library, item_id)
    return result


def _moments(library: Library, item_id: int) -> list[dict[str, Any]]:
    store = CaptionStore(library.db)
    with library.db.session() as session:
        keyframes = session.query(Keyframe).filter_by(item_id=item_id).order_by(Keyframe.timestamp)
        stamps = [(k.id, k.timestamp) for k in keyframes]
    moments = []
    for keyframe_id, timestamp in stamps:
        current = store.current(item_id, keyframe_id)
        if current is not None:
            moments.append({"timestamp": round(timestamp, 3), "caption": current.text})
    return moments
