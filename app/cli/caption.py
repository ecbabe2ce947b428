"""`captionist caption` and `captionist worker`: captioning from the command line.

`caption` queues the given files at the top of the queue and runs a supervised
worker process for just those jobs (or waits for the app's worker if it is
already running), then prints what the model wrote. `caption --query`/`--all`
captions again items already in the library (app/cli/caption_query.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from app.cli import output
from app.cli.output import (
    EXIT_USAGE,
    INTERRUPTED,
    Interrupt,
    fail,
    json_path,
    print_json,
    shown,
)
from app.cli.servers import add_server_option, one_off_servers, server_args
from app.core.captioning.events import CaptionEvent, Fatal, WorkerExit
from app.core.captioning.model_choice import NoModel, choose_model
from app.core.captioning.supervisor import WorkerSupervisor, worker_is_running
from app.core.captions import MODEL, CaptionStore
from app.core.datadir import DataDir
from app.core.jobs import PRIORITY_USER, OpenJob
from app.core.library.handover import index_paths
from app.core.library.library import Library
from app.core.servers.registry import RegistryError
from app.core.settings import CaptionBackends
from app.core.storage.job_rows import item_kind, open_job_count
from app.core.storage.problems import LibraryDamaged
from app.core.storage.schema import Keyframe
from models.prompts import builtin_prompts

POLL_S = 0.3
QUERY_EPILOG = """\
caption PATH...       captions the files now, ahead of the queue, and prints the
                      captions; whatever it does not finish is taken back out of
                      the queue.
caption --query Q     queues every item the search finds to be captioned again
caption --all         (with --prompt and --model/--model-path, stored in the jobs
                      so the app's worker honours them too), behind anything asked
                      for with "Caption this", prints how many, then runs a worker
                      until they are done. Ctrl+C stops waiting: the jobs stay
                      queued for the app or `captionist worker`. --queue-only
                      returns right after queueing.
Captions the user wrote are always kept: a new model caption is stored in the
item's history as a suggestion and the user's stays current."""
STOP_TIMEOUT_S = 15.0  # a worker loading its model hears SIGTERM only once loaded


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    caption = sub.add_parser(
        "caption",
        parents=[common],
        help="caption photos and videos now, or caption again what a search finds",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=QUERY_EPILOG,
    )
    caption.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to caption")
    which = caption.add_mutually_exclusive_group()
    which.add_argument(
        "--query",
        metavar="Q",
        help="caption again every library item this search finds (as `captionist search`)",
    )
    which.add_argument("--all", action="store_true", help="caption again the whole library")
    caption.add_argument(
        "--queue-only",
        action="store_true",
        help="with --query/--all: queue them and return (the app or `captionist worker` "
        "captions them)",
    )
    _model_options(caption)
    add_server_option(caption)
    caption.add_argument("--prompt", metavar="NAME", help="short, detailed, alt-text, tags")
    caption.add_argument("--json", action="store_true", help="print JSON")

    worker = sub.add_parser("worker", parents=[common], help="process the caption queue")
    worker.add_argument("--forever", action="store_true", help="wait for new jobs")
    worker.add_argument("--min-priority", type=int, default=None, help=argparse.SUPPRESS)
    _model_options(worker)
    add_server_option(worker)


def _model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--model", metavar="ID", help="an installed catalog model")
    group.add_argument("--model-path", metavar="FILE", help="a local GGUF model")
    parser.add_argument("--mmproj", metavar="FILE", help="its vision projector (with --model-path)")


def model_override(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.model_path:
        return {"model_path": args.model_path, "mmproj_path": args.mmproj}
    if args.model:
        return {"model": args.model}
    return None


def _override_args(args: argparse.Namespace) -> list[str]:
    if args.model_path:
        return ["--model-path", args.model_path, "--mmproj", args.mmproj or "", *server_args(args)]
    return (["--model", args.model] if args.model else []) + server_args(args)


def check_servers(args: argparse.Namespace) -> int | None:
    """Check the `--server URL` options and keep them as `args.one_off_servers` (a list
    of registry entries, never stored) for the worker; an exit code when one is not a
    server address."""
    try:
        args.one_off_servers = one_off_servers(args)
    except RegistryError as exc:
        return fail(args, f"--server: {exc}", EXIT_USAGE)
    return None


def cmd_worker(data_dir: DataDir, args: argparse.Namespace) -> int:
    from app.core.captioning.worker import CaptionWorker  # loads llama.cpp: only here
    from app.core.servers.members import members_factory, run_mode

    if (problem := check_servers(args)) is not None:
        return problem
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    reader_gone = threading.Event()

    def emit(event: CaptionEvent) -> None:
        if reader_gone.is_set():
            return
        try:
            print(event.to_json(), flush=True)
        except BrokenPipeError:
            # Whoever read the events is gone (its `caption` was killed): stop, and
            # point stdout at nothing so exiting does not print a BrokenPipeError.
            reader_gone.set()
            stop.set()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    one_off = getattr(args, "one_off_servers", [])
    try:
        worker = CaptionWorker(
            data_dir,
            on_event=emit,
            override=model_override(args),
            forever=args.forever,
            min_priority=args.min_priority,
            stop=stop,
            members=members_factory(data_dir, one_off),
            mode=run_mode(data_dir, one_off),
        )
    except LibraryDamaged as exc:  # found at open: the window offers the repair
        emit(Fatal(str(exc), "damaged"))
        return WorkerExit.DAMAGED
    return worker.run()


def cmd_caption(library: Library, data_dir: DataDir, args: argparse.Namespace) -> int:
    """Caption the files now. Nothing of this run stays in the queue: the model
    options go to this run's worker only (never into the jobs), and whatever the run
    did not finish (an error, Ctrl+C, SIGTERM) is taken back out of the queue."""
    if not args.paths:
        return fail(
            args,
            "nothing to caption: give files or folders, or --query Q / --all to caption "
            "again what is in the library",
            EXIT_USAGE,
        )
    if args.queue_only:
        return fail(
            args,
            "--queue-only goes with --query or --all (files given by path are captioned "
            "now and nothing of the run stays queued)",
            EXIT_USAGE,
        )
    if (problem := check_choices(args) or check_servers(args)) is not None:
        return problem
    override = model_override(args)
    settings = library.settings.read()
    # A model on this computer is needed unless only servers caption (this run's
    # --server, or the library set to its servers).
    local_needed = not getattr(args, "one_off_servers", []) and (
        settings.caption_backends != CaptionBackends.SERVERS
    )
    try:
        if local_needed or override:
            choose_model(settings, data_dir.models, override)
    except NoModel as exc:
        return fail(args, str(exc), WorkerExit.NO_MODEL)
    if override and worker_is_running(data_dir.root):
        return fail(
            args,
            "the app's caption worker is running and would caption these files with its "
            "own model: run without --model/--model-path, or close the app first",
        )
    interrupt = Interrupt()
    with interrupt.installed():
        items, results = _add_items(library, args.paths)
        ids = list(dict.fromkeys(items.values()))
        before = library.jobs.open_jobs(ids)
        ours: dict[int, OpenJob] = {}
        fatal: str | None = None
        if ids and not interrupt():
            try:
                params = {"prompt": args.prompt} if args.prompt else None
                library.jobs.enqueue(ids, priority=PRIORITY_USER, params=params)
                ours = library.jobs.open_jobs(ids)
                fatal = _run_until_done(library, data_dir, args, ids, interrupt)
            finally:
                # Our worker has stopped: a job of ours still "running" was left by it
                # (killed while loading), unless the app's worker is on it.
                orphaned = not worker_is_running(data_dir.root)
                library.jobs.withdraw(ids, before, orphaned_running=orphaned)
    for path, item_id in items.items():
        job = ours.get(item_id)
        results[path] = _result(library, path, item_id, job.id if job else None, interrupt())
    ordered = [results[p] for p in args.paths]
    if fatal:
        return fail(args, f"the model could not be used: {fatal}", WorkerExit.NO_MODEL)
    _print_results(args, ordered)
    if interrupt():
        print(INTERRUPTED, file=sys.stderr)
        return interrupt.exit_code
    return 0 if any(r["error"] is None for r in ordered) else output.EXIT_FAILED


def check_choices(args: argparse.Namespace) -> int | None:
    """The exit code for a --model-path without --mmproj or an unknown --prompt."""
    if args.model_path and not args.mmproj:
        return fail(args, "--model-path needs --mmproj (the model's vision projector)", EXIT_USAGE)
    prompts = builtin_prompts()
    if args.prompt is not None and args.prompt not in prompts:
        return fail(
            args,
            f"unknown prompt {args.prompt!r}: use one of {', '.join(sorted(prompts))}",
            EXIT_USAGE,
        )
    return None


def _print_results(args: argparse.Namespace, ordered: list[dict[str, Any]]) -> None:
    if args.json:
        print_json([{**r, **json_path(r["path"])} for r in ordered], indent=2)
        return
    for r in ordered:
        print(
            f"{shown(r['path'])}\n    "
            + (
                f"error: {r['error']}"
                if r["error"]
                else f"{r['caption']}  [{', '.join(r['tags'])}]"
            )
        )
        for m in r.get("moments", []):
            print(f"    {m['timestamp']:7.1f}s  {m['caption']}")
    sys.stdout.flush()


def _add_items(library: Library, paths: list[str]) -> tuple[dict[str, int], dict[str, Any]]:
    """Index the files (adding their folders to the library as needed)."""
    indexed = index_paths(library, paths, folders=False)
    results = {given: _failed(given, reason) for given, reason in indexed.errors.items()}
    return {given: ids[0] for given, ids in indexed.items.items()}, results


def _run_until_done(
    library: Library,
    data_dir: DataDir,
    args: argparse.Namespace,
    item_ids: list[int],
    interrupt: Interrupt,
) -> str | None:
    worker_args = ["--min-priority", str(PRIORITY_USER), *_override_args(args)]
    return run_until_done(library, data_dir, item_ids, interrupt, worker_args)


def run_until_done(
    library: Library,
    data_dir: DataDir,
    item_ids: list[int],
    interrupt: Interrupt,
    worker_args: list[str],
) -> str | None:
    """Run a worker (with these arguments) until the items have no open job, or the
    user interrupts. The model's error if it could not be used."""
    fatal: list[str] = []

    def on_event(event: CaptionEvent) -> None:
        if isinstance(event, Fatal) and event.needs_a_model:
            fatal.append(event.error)
            interrupt.event.set()  # wakes the wait below (not an interrupt: no signal)

    supervisor = WorkerSupervisor(
        data_dir.root,
        on_event=on_event,
        forever=False,
        extra_args=worker_args,
    )
    supervisor.start()
    try:
        while _open_jobs(library, item_ids) and not interrupt.event.wait(POLL_S):
            pass
    finally:
        supervisor.stop(timeout=STOP_TIMEOUT_S)
    return fatal[0] if fatal else None


def _open_jobs(library: Library, item_ids: list[int]) -> int:
    with library.db.read() as conn:
        return open_job_count(conn, item_ids)


def _failed(path: str, error: str) -> dict[str, Any]:
    return {"path": path, "caption": None, "tags": [], "model": None, "error": error}


def _result(
    library: Library, path: str, item_id: int, job_id: int | None, interrupted: bool
) -> dict[str, Any]:
    """What this run's job of the item came to (not an older caption of it)."""
    job = library.jobs.outcome(job_id) if job_id is not None else None
    if job is None or job[0] != "done":
        if job is not None and job[1]:
            return _failed(path, job[1])
        return _failed(path, "not captioned: interrupted" if interrupted else "not captioned")
    with library.db.read() as conn:
        kind = item_kind(conn, item_id)
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
