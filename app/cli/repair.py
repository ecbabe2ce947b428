"""`captionist repair`: a damaged library back in working order, said in words.

Without options the newest good backup takes the damaged file's place; `--rebuild`
makes a new library from the folders (the ones the library had, or those given),
taking the user's own captions back from the XMP the app wrote. Either way the
damaged file is kept aside, untouched."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from app.cli.output import EXIT_INTERRUPTED, EXIT_USAGE, INTERRUPTED, Interrupt, fail, shown
from app.core.datadir import DataDir
from app.core.library.recovery import (
    NoFolders,
    NothingToRestore,
    Recovery,
    rebuild,
    restore_newest,
)
from app.core.storage import backups
from app.core.storage.problems import EXIT_DAMAGED


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    repair = sub.add_parser(
        "repair",
        parents=[common],
        help="recover a damaged library: restore the newest good backup, or --rebuild it",
    )
    repair.add_argument(
        "--rebuild",
        action="store_true",
        help="make a new library from its folders (or PATHs), taking back your own "
        "captions from the XMP Captionist wrote",
    )
    repair.add_argument("paths", nargs="*", metavar="PATH", help="folders for --rebuild")
    repair.add_argument("--force", action="store_true", help="even if the library passes the check")


def cmd_repair(data_dir: DataDir, args: argparse.Namespace) -> int:
    database = data_dir.database
    found = backups.damage(database)
    if found is None and not args.force:
        print(f"the library {database} passes the check: nothing to repair")
        return 0
    if args.paths and not args.rebuild:
        return fail(args, "folders are for --rebuild", EXIT_USAGE)
    if found is not None:
        print(f"the library {database} is damaged ({found})", file=sys.stderr)
    if not args.rebuild:
        try:
            recovery = restore_newest(database)
        except NothingToRestore:
            return fail(
                args,
                f"no good backup of {database}: run `captionist repair --rebuild` to "
                "rebuild the library from its folders",
                EXIT_DAMAGED,
            )
        assert recovery.restored is not None
        print(f"restored the backup of {recovery.restored.label} ({recovery.restored.path})")
        _kept(recovery)
        return 0
    interrupt = Interrupt()
    try:
        with interrupt.installed():
            recovery = rebuild(
                database,
                args.paths,
                on_folder=lambda folder, report: print(
                    f"{shown(folder)}: {report.new} files, {report.imported} of your "
                    "captions taken back from their metadata",
                    flush=True,
                ),
                should_stop=interrupt,
            )
    except NoFolders:
        return fail(
            args,
            "the library's folders cannot be read from it or its backups: name them, "
            "`captionist repair --rebuild PATH...`",
            EXIT_USAGE,
        )
    for folder in recovery.missing_folders:
        print(f"error: {shown(folder)}: not a folder (any more): not rebuilt", file=sys.stderr)
    print(
        f"rebuilt the library: {recovery.user_captions} of your captions came back; "
        "the model captions the other files again"
    )
    _kept(recovery)
    if interrupt():
        print(f"{INTERRUPTED}: run `captionist scan` on the folders to finish", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _kept(recovery: Recovery) -> None:
    print(f"the damaged file is kept as {os.fsdecode(recovery.set_aside)}")
