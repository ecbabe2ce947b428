"""`install-desktop` and `uninstall-desktop`: Captionist in the desktop's menus and file
managers for the current user (Linux: freedesktop entry, icons, Nautilus, Dolphin, Nemo;
Windows: Explorer's context menu; macOS: the app bundle and a Quick Action, see
packaging/macos/README.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.core.desktop import windows_menu
from app.core.desktop.install import install_desktop, uninstall_desktop
from app.core.desktop.launcher import launcher_command

EXIT_FAILED = 1


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    install = sub.add_parser(
        "install-desktop",
        parents=[common],
        help="add Captionist to the menus and file managers (this user only)",
    )
    install.add_argument(
        "--reg",
        metavar="FILE",
        help="write Explorer's context menu as a Windows .reg file instead (any platform)",
    )
    sub.add_parser("uninstall-desktop", parents=[common], help="remove what install-desktop added")


def cmd_install(args: argparse.Namespace) -> int:
    launcher = launcher_command(getattr(args, "data_dir", None))
    try:
        if args.reg:
            values = windows_menu.registry_values(launcher, icon=launcher[0])
            Path(args.reg).write_text(windows_menu.reg_file(values), encoding="utf-8")
            print(f"wrote {args.reg}: import it with regedit (or double-click it) on Windows")
            return 0
        if sys.platform == "win32":  # pragma: no cover - Windows
            windows_menu.write_registry(windows_menu.registry_values(launcher, launcher[0]))
            print("added “Caption with Captionist” to Explorer's menu for photos, videos, folders")
            return 0
        if sys.platform == "darwin":  # pragma: no cover - macOS
            print(
                "On macOS, drag Captionist.app to Applications; for Finder's "
                "“Caption with Captionist” Quick Action see packaging/macos/README.md."
            )
            return 0
        report = install_desktop(launcher)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print("\n".join(report.lines()))
    return 0


def cmd_uninstall(_args: argparse.Namespace) -> int:
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows
            windows_menu.remove_registry()
            print("removed “Caption with Captionist” from Explorer's menu")
            return 0
        report = uninstall_desktop()
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print("\n".join(report.lines()))
    return 0
