"""The `captionist` entry point: a launch that only hands paths to the open window
(a second double-click, a file manager's "Caption with Captionist", which on Windows
starts one process per selected file) does so before the command line's imports
(SQLAlchemy, the model catalog: ~2 s), then exits. Anything else goes to app.cli.main."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

GUI_COMMANDS = (None, "open", "caption-this")


def hand_over_early(argv: Sequence[str]) -> bool:
    """True if the running window for this library took the request."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data-dir")
    parser.add_argument("command", nargs="?")
    parser.add_argument("paths", nargs="*")
    try:
        args, unknown = parser.parse_known_args(list(argv))
    except SystemExit:  # not ours to report: app.cli.main parses it again and says why
        return False
    if (
        unknown
        or args.command not in GUI_COMMANDS
        or (args.command == "caption-this" and not args.paths)
    ):
        return False
    from app.core.datadir import DataDir
    from app.core.storage.problems import StorageProblem
    from app.services.single_instance import hand_over, server_name

    try:
        name = server_name(DataDir.resolve(args.data_dir).root)
    except StorageProblem:  # app.cli.main says what is wrong with the data folder
        return False
    return hand_over(name, args.paths, caption=args.command == "caption-this")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if hand_over_early(args):
        return 0
    from app.cli.main import main as cli_main

    return cli_main(args)
