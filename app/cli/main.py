"""Command line: `captionist` with no arguments opens the GUI; subcommands run headless.

The subcommand names, options and JSON fields are a contract other tools rely on.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy.exc import DBAPIError

from app.cli import caption as cli_caption
from app.cli import caption_query as cli_caption_query
from app.cli import desktop as cli_desktop
from app.cli import embed as cli_embed
from app.cli import embed_queries as cli_embed_queries
from app.cli import export as cli_export
from app.cli import finetune as cli_finetune
from app.cli import models as cli_models
from app.cli import queue as cli_queue
from app.cli import repair as cli_repair
from app.cli import search as cli_search
from app.cli import servers as cli_servers
from app.cli import training_runtime as cli_runtime
from app.cli.output import (
    EXIT_INTERRUPTED,
    INTERRUPTED,
    Interrupt,
    safe_streams,
    shown,
)
from app.core.datadir import DataDir
from app.core.library.library import Library, LibraryError
from app.core.library.reconcile import ScanReport
from app.core.logs import setup_logging
from app.core.storage.db import Database
from app.core.storage.network import network_warning
from app.core.storage.problems import (
    EXIT_DAMAGED,
    EXIT_STORAGE,
    LibraryDamaged,
    StorageProblem,
    explain,
)

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="keep all state (database, thumbnails, models, settings) under DIR",
    )
    parser = argparse.ArgumentParser(
        prog="captionist",
        parents=[common],
        description="Caption and search a photo and video library with a local model.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan = sub.add_parser("scan", parents=[common], help="add folders and index them")
    scan.add_argument("paths", nargs="+", metavar="PATH")

    watch = sub.add_parser("watch", parents=[common], help="index folders and follow changes")
    watch.add_argument("paths", nargs="+", metavar="PATH")

    cli_search.add_parsers(sub, common)
    cli_embed.add_parser(sub, common)
    cli_embed_queries.add_parser(sub)

    this = sub.add_parser(
        "caption-this",
        parents=[common],
        help="queue files or folders in the app, first in line (opens it if needed)",
    )
    this.add_argument("paths", nargs="+", metavar="PATH")
    opened = sub.add_parser(
        "open",
        parents=[common],
        help="open the app showing these files (adding them to the library), or just open it",
    )
    opened.add_argument("paths", nargs="*", metavar="PATH")

    status = sub.add_parser("status", parents=[common], help="library counts")
    status.add_argument("--json", action="store_true", help="print a JSON object")

    cli_caption.add_parsers(sub, common)
    cli_queue.add_parsers(sub, common)
    cli_export.add_parsers(sub, common)
    cli_models.add_models_parser(sub, common)
    cli_finetune.add_parsers(sub, common)
    cli_runtime.add_parsers(sub, common)
    cli_desktop.add_parsers(sub, common)
    cli_repair.add_parser(sub, common)
    cli_servers.add_parsers(sub, common)
    return parser


log = logging.getLogger(__name__)
# Commands that do not open the library here: the GUI and the worker (the window's own
# process says it once), the desktop entry installers.
NO_LIBRARY_COMMANDS = (
    "worker",
    "install-desktop",
    "uninstall-desktop",
    "finetune-runtime",
    "embed-queries",
)


def main(argv: Sequence[str] | None = None) -> int:
    safe_streams()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Commands that can stop at a safe point catch Ctrl+C themselves; anything
        # else ends here, with a word instead of a traceback.
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        return _run(args)
    except LibraryDamaged as exc:
        log.info("library damaged", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DAMAGED
    except StorageProblem as exc:
        log.info("storage problem", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STORAGE
    except Exception:
        log.exception("unhandled exception in `%s`", args.command)
        raise


def _wait_for_lock(waited_s: float) -> bool:
    """A command that writes waits for another process's write to finish, and says so."""
    print(
        f"waiting for the library: another Captionist process has been writing to it "
        f"for {waited_s:.0f} s (Ctrl+C to stop)",
        file=sys.stderr,
        flush=True,
    )
    return True


def _run(args: argparse.Namespace) -> int:
    data_dir = DataDir.resolve(getattr(args, "data_dir", None))
    if args.command in (None, "open", "caption-this"):
        from app.ui.application import run_gui  # Qt is imported only for the GUI

        paths = getattr(args, "paths", ())
        return run_gui(data_dir, paths, caption=args.command == "caption-this")
    if args.command != "worker":  # the worker runs beside the window, which logs
        setup_logging(data_dir.root)
        log.info("captionist %s", args.command)
    if args.command not in NO_LIBRARY_COMMANDS and (warning := network_warning(data_dir.root)):
        log.info("%s", warning)
        print(f"warning: {warning}", file=sys.stderr)
    if args.command == "install-desktop":
        return cli_desktop.cmd_install(args)
    if args.command == "uninstall-desktop":
        return cli_desktop.cmd_uninstall(args)
    if args.command == "worker":
        return cli_caption.cmd_worker(data_dir, args)
    if args.command == "embed-queries":
        return cli_embed_queries.cmd_embed_queries(args)
    if args.command == "models":
        return cli_models.run_models_command(args, data_dir)
    if args.command == "finetune":
        return cli_finetune.cmd_finetune(data_dir, args)
    if args.command == "adapters":
        return cli_finetune.cmd_adapters(data_dir, args)
    if args.command == "finetune-runtime":
        return cli_runtime.cmd_runtime(data_dir, args)
    if args.command == "repair":
        return cli_repair.cmd_repair(data_dir, args)
    db = Database(data_dir.database, on_lock_wait=_wait_for_lock)
    try:
        library = Library(db)
        if args.command == "caption":
            if args.query is not None or args.all:
                return cli_caption_query.cmd_caption_query(library, data_dir, args)
            return cli_caption.cmd_caption(library, data_dir, args)
        if args.command == "embed":
            return cli_embed.cmd_embed(library, data_dir, args)
        handler = {
            "scan": cmd_scan,
            "watch": cmd_watch,
            "search": cli_search.cmd_search,
            "similar": cli_search.cmd_similar,
            "status": cmd_status,
            "queue": cli_queue.cmd_queue,
            "export": cli_export.cmd_export,
            "servers": cli_servers.cmd_servers,
        }[args.command]
        try:
            return handler(library, args)
        except (OSError, DBAPIError) as exc:  # the disk filled up, the folder went away…
            problem = explain(exc, data_dir.database)
            if problem is None:
                raise
            raise problem from exc
    finally:
        db.close()


def _add_roots(library: Library, paths: Sequence[str]) -> tuple[list[int], bool]:
    root_ids, all_usable = [], True
    for path in paths:
        try:
            root_ids.append(library.add_root(path).id)
        except LibraryError as exc:
            print(f"error: {shown(path)}: {exc}", file=sys.stderr)
            all_usable = False
    return root_ids, all_usable


def _print_report(path: str, report: ScanReport) -> None:
    print(
        f"{shown(path)}: {report.new} new, {report.changed} changed, {report.moved} moved, "
        f"{report.missing} missing, {len(report.errors)} errors"
        + (f", {report.returned} back" if report.returned else ""),
        flush=True,
    )
    for error in report.errors:
        print(f"  error: {shown(error.path)}: {error.reason}")


def _root_path(library: Library, root_id: int) -> str:
    return next(r.path for r in library.roots() if r.id == root_id)


def cmd_scan(library: Library, args: argparse.Namespace) -> int:
    interrupt = Interrupt()
    with interrupt.installed():
        root_ids, all_usable = _add_roots(library, args.paths)
        for root_id in root_ids:
            if interrupt():
                break
            report = library.scan(root_id, should_stop=interrupt)
            _print_report(_root_path(library, root_id), report)
    if interrupt():
        # What was found so far is stored; scanning again picks up the rest.
        print(f"{INTERRUPTED}: run the scan again to finish it", file=sys.stderr)
        return interrupt.exit_code
    return 0 if all_usable else EXIT_USAGE


def cmd_watch(library: Library, args: argparse.Namespace) -> int:
    from app.core.library.watcher import LibraryWatcher

    interrupt = Interrupt()
    with interrupt.installed():
        root_ids, all_usable = _add_roots(library, args.paths)
        if not root_ids:
            return EXIT_USAGE
        # Watch first, then scan: a change made during the scan is then never missed.
        watcher = LibraryWatcher(library, on_report=lambda r: _print_report("changes", r))
        watcher.start(root_ids)
        try:
            for root in library.roots():
                if root.id in root_ids and not interrupt():
                    note = f" ({root.watch_note})" if root.watch_note else ""
                    print(f"{shown(root.path)}: {root.watch_state}{note}")
                    _print_report(root.path, library.scan(root.id, should_stop=interrupt))
            if not interrupt():
                print("watching; press Ctrl+C to stop", flush=True)
                interrupt.event.wait()
        finally:
            watcher.stop()
    print("stopped watching", file=sys.stderr)
    return 0 if all_usable else EXIT_USAGE


def cmd_status(library: Library, args: argparse.Namespace) -> int:
    status = library.status()
    if args.json:
        print(json.dumps(asdict(status)))
    else:
        for key, value in asdict(status).items():
            print(f"{key:>10}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
