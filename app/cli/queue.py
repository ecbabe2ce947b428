"""`captionist queue list|clear|retry`: the caption queue from the command line.

The same answers and actions as the activity panel (app.core.queue_status): what is
waiting (and with which model or prompt a job asked for), what failed and why, cancel
everything waiting, try the failed items again.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from app.cli.output import json_path, print_json, shown
from app.core import queue_status
from app.core.jobs import PRIORITY_BULK, PRIORITY_USER
from app.core.library.library import Library
from app.core.text import counted


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    queue = sub.add_parser("queue", parents=[common], help="list, clear or retry the caption queue")
    actions = queue.add_subparsers(dest="queue_action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", parents=[common], help="what is waiting, running and failed"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON object")
    cleared = actions.add_parser("clear", parents=[common], help="cancel every waiting job")
    cleared.add_argument("--json", action="store_true", help="print a JSON object")
    retried = actions.add_parser("retry", parents=[common], help="queue the failed items again")
    retried.add_argument("--json", action="store_true", help="print a JSON object")


def cmd_queue(library: Library, args: argparse.Namespace) -> int:
    db = library.db
    if args.queue_action == "clear":
        cancelled = queue_status.cancel_all(db)
        _say(args, {"cancelled": cancelled}, f"cancelled {counted(cancelled, 'waiting job')}")
        return 0
    if args.queue_action == "retry":
        result = queue_status.retry_all(db)
        text = f"queued {counted(result.queued, 'item')} again"
        if result.unreadable:
            text += f"; {counted(result.unreadable, 'file')} still cannot be read"
        _say(args, {"queued": result.queued, "unreadable": result.unreadable}, text)
        return 0
    counts = queue_status.queue_counts(db)
    paused = library.settings.read().queue_paused
    waiting = queue_status.open_jobs(db)
    failed = queue_status.failed_items(db, limit=-1)
    if args.json:
        print_json(
            {
                "paused": paused,
                "queued": counts.queued,
                "running": counts.running,
                "failed": counts.failed,
                "jobs": [_job_json(job) for job in waiting],
                "failures": [
                    {**json_path(os.fsencode(f.path)), "item_id": f.item_id, "error": f.error}
                    for f in failed
                ],
            },
            indent=2,
        )
        return 0
    print(
        f"{counts.queued} queued, {counts.running} running, {counts.failed} failed"
        + (" (paused)" if paused else "")
    )
    for job in waiting:
        print(f"  {_job_line(job)}")
    if failed:
        print("failed:")
    for f in failed:
        print(f"  {shown(f.path)}\n      {f.error}")
    return 0


def _say(args: argparse.Namespace, value: dict[str, Any], text: str) -> None:
    if args.json:
        print_json(value)
    else:
        print(text)


def _asked_for(job: queue_status.OpenJobRow) -> dict[str, Any]:
    params = job.params or {}
    return {k: params[k] for k in ("model_override", "prompt") if params.get(k)}


def _job_json(job: queue_status.OpenJobRow) -> dict[str, Any]:
    where = json_path(job.path) if job.path is not None else {"path": None}
    return {
        "job": job.job_id,
        "item_id": job.item_id,
        **where,
        "state": job.state,
        "priority": job.priority,
        **_asked_for(job),
    }


def _job_line(job: queue_status.OpenJobRow) -> str:
    first = (
        "first"
        if job.priority >= PRIORITY_USER
        else "again"  # `caption --query`, "All N in this view": behind "first"
        if job.priority >= PRIORITY_BULK
        else "background"
    )
    where = shown(job.path) if job.path is not None else f"(item {job.item_id} is gone)"
    asked = "".join(f"  [{k}: {v}]" for k, v in _asked_for(job).items())
    return f"{job.state:<8} {first:<10} {where}{asked}"
