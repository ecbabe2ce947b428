"""`captionist embed [--model ID_OR_PATH]`: give every caption its vector now (the
backfill of an existing library, or the library under another embedding model), with
progress; Ctrl+C stops at a batch boundary and keeps what was done. The window's
worker does the same in the background; both may run, they share the queue."""

from __future__ import annotations

import argparse
import sys
import time

from app.cli.output import EXIT_FAILED, Interrupt, fail, print_json
from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.semantic.crash_guard import CrashGuard
from app.core.semantic.model_choice import (
    EmbeddingChoice,
    EmbeddingModelMissing,
    choose_embedding_model,
)
from app.core.semantic.sync import EmbeddingSync, SyncProgress
from app.core.semantic.worker_loop import ClosableEmbedder, open_text_embedder
from app.core.settings import Settings

PROGRESS_EVERY_S = 2.0


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    embed = sub.add_parser(
        "embed", parents=[common], help="give every caption its vector for search by meaning"
    )
    embed.add_argument(
        "--model",
        metavar="ID_OR_PATH",
        help="embedding model (catalog id or GGUF path); default: the setting embedding_model",
    )
    embed.add_argument("--json", action="store_true", help="print a JSON summary")


def cmd_embed(library: Library, data_dir: DataDir, args: argparse.Namespace) -> int:
    setting = args.model or Settings(library.db).read().embedding_model
    try:
        choice = choose_embedding_model(setting, data_dir.models)
    except EmbeddingModelMissing as exc:
        return fail(args, str(exc), EXIT_FAILED)
    if choice is None:
        return fail(
            args,
            "no embedding model: download one (`captionist models list`) or pass --model",
            EXIT_FAILED,
        )
    try:
        embedder = open_text_embedder(choice)
    except Exception as exc:
        return fail(args, f"{choice.label}: {exc}", EXIT_FAILED)
    interrupt = Interrupt()
    started = time.monotonic()
    with interrupt.installed():
        try:
            progress = _embed_all(library, data_dir, choice, embedder, interrupt, args.json)
        finally:
            embedder.close()
    seconds = time.monotonic() - started
    if args.json:
        print_json(
            {
                "model": choice.label,
                "embedded": progress.embedded,
                "pending": progress.pending,
                "ready": progress.ready,
                "seconds": round(seconds, 2),
                "interrupted": interrupt(),
            }
        )
    elif progress.ready:
        print(f"{progress.embedded:,} captions embedded with {choice.label} in {seconds:.1f} s")
        print("search by meaning is ready")
    else:
        print(f"stopped: {progress.pending:,} captions still to embed (run again to go on)")
    return interrupt.exit_code if interrupt() else 0


def _embed_all(
    library: Library,
    data_dir: DataDir,
    choice: EmbeddingChoice,
    embedder: ClosableEmbedder,
    interrupt: Interrupt,
    quiet: bool,
) -> SyncProgress:
    sync = EmbeddingSync(
        library.db,
        embedder,
        choice.label,
        path=choice.path,
        query_prefix=choice.query_prefix,
        guard=CrashGuard(data_dir.root),
    )
    progress = sync.start()
    total, shown_at = progress.pending, 0.0
    while progress.pending and not interrupt():
        progress = sync.step()
        if not quiet and time.monotonic() - shown_at >= PROGRESS_EVERY_S:
            shown_at = time.monotonic()
            done = total - progress.pending
            print(f"embedded {done:,} of {total:,} captions", file=sys.stderr, flush=True)
    return progress
