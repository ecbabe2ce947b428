"""`captionist caption --query Q` / `--all`: caption again items already in the library.

The same thing as "Caption again with… → All N in this view" in the window: the items
are resolved by app.core.listing, the prompt and model go into the jobs (so the app's
worker, if it is the one that gets to them, honours them too), and they are queued at
PRIORITY_BULK, behind anything asked for with "Caption this". Unlike `caption PATH`
the jobs are the point: an interrupted run leaves them queued for the app or
`captionist worker` instead of taking them back.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli.caption import check_choices, check_servers, model_override, run_until_done
from app.cli.output import EXIT_FAILED, EXIT_USAGE, INTERRUPTED, Interrupt, fail, print_json
from app.cli.servers import server_args
from app.core.captioning.events import WorkerExit
from app.core.captioning.model_choice import NoModel, choose_model
from app.core.datadir import DataDir
from app.core.gallery import GalleryQuery
from app.core.jobs import PRIORITY_BULK
from app.core.library.library import Library
from app.core.listing import count_user_captioned, listed_ids, search_ids
from app.core.storage.states import JobState
from app.core.text import counted
from models.prompts import builtin_prompts

OPEN = (JobState.QUEUED, JobState.RUNNING)


def cmd_caption_query(library: Library, data_dir: DataDir, args: argparse.Namespace) -> int:
    if args.paths:
        return fail(args, "give files or --query/--all, not both", EXIT_USAGE)
    if args.query is not None and not args.query.strip():
        return fail(
            args,
            "an empty --query finds nothing: use --all to caption the whole library again",
            EXIT_USAGE,
        )
    if (problem := check_choices(args) or check_servers(args)) is not None:
        return problem
    override = model_override(args)
    settings = library.settings.read()
    try:
        model: str | None = choose_model(settings, data_dir.models, override).model_id
    except NoModel as exc:
        # Queued jobs may wait for a model to be downloaded, not for a wrong one.
        if override or not args.queue_only:
            return fail(args, str(exc), WorkerExit.NO_MODEL)
        model = None
    prompt = args.prompt or settings.prompt_id
    params: dict[str, Any] = {}
    if args.prompt:
        params["prompt"] = args.prompt
    if override:
        params["model_override"] = override

    db = library.db
    ids = search_ids(db, args.query) if args.query is not None else listed_ids(db, GalleryQuery())
    summary: dict[str, Any] = {
        "query": args.query,
        "all": bool(args.all),
        "queued": len(ids),
        "prompt": prompt,
        "model": model,
        "user_captioned": count_user_captioned(db, ids),
        "kept_user_captions": True,  # always: a model caption never replaces the user's
        "priority": PRIORITY_BULK,
    }
    library.jobs.enqueue_in_batches(ids, priority=PRIORITY_BULK, params=params or None)
    if not args.json:
        _say_queued(args, summary)
    if args.queue_only or not ids:
        return _done(args, summary, 0)

    interrupt = Interrupt()
    with interrupt.installed():
        jobs = [job.id for job in library.jobs.open_jobs(ids).values()]
        # No model arguments for the worker: each job carries its own. One-off servers
        # are this run's, not the jobs': they go to this run's worker only.
        worker_args = ["--min-priority", str(PRIORITY_BULK), *server_args(args)]
        fatal = run_until_done(library, data_dir, ids, interrupt, worker_args)
    states = library.jobs.states_of(jobs)
    summary.update(
        captioned=states.get(JobState.DONE, 0),
        failed=states.get(JobState.FAILED, 0),
        still_queued=sum(states.get(s, 0) for s in OPEN),
    )
    if fatal:
        return fail(args, f"the model could not be used: {fatal}", WorkerExit.NO_MODEL)
    if interrupt():
        _done(args, summary, interrupt.exit_code)
        print(INTERRUPTED, file=sys.stderr)
        return interrupt.exit_code
    code = EXIT_FAILED if summary["failed"] and not summary["captioned"] else 0
    return _done(args, summary, code)


def _say_queued(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    where = "in the library" if args.all else f"found by {args.query!r}"
    if not summary["queued"]:
        print(f"nothing {where}: nothing queued", flush=True)
        return
    names = {p.id: p.name for p in builtin_prompts().values()}
    model = summary["model"] or "the model you install next"
    print(
        f"queued {counted(summary['queued'], 'item')} {where} to caption again with the "
        f"prompt {names.get(summary['prompt'], summary['prompt'])!r} and {model}",
        flush=True,
    )
    mine = summary["user_captioned"]
    if mine:
        print(
            f"{counted(mine, 'item')} of them {'has a caption' if mine == 1 else 'have captions'}"
            " you wrote: kept as the current caption (the new one goes into the history)",
            flush=True,
        )


def _done(args: argparse.Namespace, summary: dict[str, Any], code: int) -> int:
    if args.json:
        print_json(summary, indent=2)
    elif "captioned" in summary:
        waiting = summary["still_queued"]
        print(
            f"captioned {summary['captioned']}, failed {summary['failed']}"
            + (
                f", {waiting} still queued (the app or `captionist worker` will caption them)"
                if waiting
                else ""
            ),
            flush=True,
        )
    return code
