"""`captionist finetune-runtime status|install|remove`: the packaged app's training runtime.

The double-click app has no torch; fine-tuning runs in a private Python environment in the
data folder (models/finetune/runtime.py). `install` builds it (progress lines, Ctrl+C or
SIGTERM cancels and leaves nothing behind), `remove` frees the space, `status` says what
is there. `--json` prints JSON lines (`{"event": "stage"|"line"|"done"|"error"|
"cancelled", ...}`) for programs. The fine-tune screen runs `install` and shows its output.
Exit codes: 0 done, 1 failed, 2 cancelled.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from app.core.datadir import DataDir
from app.core.finetune.events import FinetuneExit
from models.finetune import runtime


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    command = sub.add_parser(
        "finetune-runtime",
        parents=[common],
        help="the packaged app's training components (install, remove, status)",
    )
    command.add_argument("action", choices=("status", "install", "remove"))
    command.add_argument("--json", action="store_true", help="print JSON lines")


def cmd_runtime(data_dir: DataDir, args: argparse.Namespace) -> int:
    say = _json_line if args.json else _human_line
    root = data_dir.root
    if args.action == "status":
        state = runtime.status(root)
        if args.json:
            print(json.dumps({"event": "status", "packaged": runtime.packaged(),
                              **state.to_dict()}), flush=True)  # fmt: skip
        elif state.ready:
            size, variant = _gb(state.size_bytes), state.torch_variant
            print(f"installed: {state.folder} ({size}, torch {variant})")
        else:
            print(
                f"not installed (about {runtime.download_gb():.0f} GB to download); "
                "`captionist finetune-runtime install` installs it"
            )
        return FinetuneExit.OK
    if args.action == "remove":
        try:
            freed = runtime.remove(root)
        except runtime.RuntimeInstallError as exc:
            say("error", message=str(exc))
            return FinetuneExit.ERROR
        say("done", message=f"Removed the training components: {_gb(freed)} freed.", freed=freed)
        return FinetuneExit.OK
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        state = runtime.install(
            root,
            on_stage=lambda text: say("stage", message=text + " …"),
            on_line=lambda text: say("line", message="  " + text),
            should_cancel=cancel.is_set,
        )
    except runtime.InstallCancelled:
        say("cancelled", message="Installation cancelled; nothing was changed.")
        return FinetuneExit.CANCELLED
    except runtime.RuntimeInstallError as exc:
        say("error", message=str(exc))
        return FinetuneExit.ERROR
    say(
        "done",
        message=f"Training components installed ({_gb(state.size_bytes)} in {state.folder}).",
        size_bytes=state.size_bytes,
        folder=str(state.folder),
    )
    return FinetuneExit.OK


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.0f} MB"


def _json_line(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, ensure_ascii=False), flush=True)


def _human_line(event: str, **fields: Any) -> None:
    stream = sys.stderr if event == "error" else sys.stdout
    prefix = "error: " if event == "error" else ""
    print(prefix + str(fields.get("message", "")), file=stream, flush=True)
