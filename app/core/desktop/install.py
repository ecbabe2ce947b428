"""`install-desktop` / `uninstall-desktop` on Linux and other freedesktop systems: the
application entry and icons for the current user, and "Caption with Captionist" in each
file manager that is installed (Nautilus, Dolphin, Nemo).

What was written is listed in a manifest, so uninstalling removes exactly that and
nothing the user made. Everything goes under $XDG_DATA_HOME (~/.local/share): no root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.core.desktop.entries import (
    APP_ID,
    desktop_entry,
    dolphin_service_menu,
    nautilus_script,
    nemo_action,
)
from models.resources import RESOURCES

ICONS = RESOURCES / "icons"
MANIFEST = Path("captionist") / "desktop-install.json"
NAUTILUS_SCRIPT = Path("nautilus") / "scripts" / "Caption with Captionist"
DOLPHIN_MENU = Path("kio") / "servicemenus" / f"{APP_ID}-caption.desktop"
NEMO_ACTION = Path("nemo") / "actions" / f"{APP_ID}.nemo_action"
ENTRY = Path("applications") / f"{APP_ID}.desktop"


@dataclass
class DesktopReport:
    """What install or uninstall did, for the user to read."""

    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "Dolphin: not installed"

    def lines(self) -> list[str]:
        return (
            [f"installed {p}" for p in self.written]
            + [f"removed {p}" for p in self.removed]
            + [f"skipped {s}" for s in self.skipped]
        )


def data_home() -> Path:
    """$XDG_DATA_HOME, or ~/.local/share as the spec says when it is unset or relative."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def install_desktop(
    launcher: Sequence[str], *, which: Callable[[str], str | None] = shutil.which
) -> DesktopReport:
    """Write the entry, the icons and the file-manager actions (where the file manager
    is installed, as `which` finds it); replaces an earlier install."""
    base = data_home()
    report = DesktopReport()
    previous = _read_manifest(base)
    _write(base / ENTRY, desktop_entry(launcher), report)
    for source in sorted((ICONS / "hicolor").glob("*/apps/*.png")):
        _copy(source, base / "icons" / source.relative_to(ICONS), report)
    _copy(ICONS / f"{APP_ID}.svg", base / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg", report)
    file_managers = (
        ("Nautilus", "nautilus", NAUTILUS_SCRIPT, nautilus_script(launcher)),
        ("Dolphin", "dolphin", DOLPHIN_MENU, dolphin_service_menu(launcher)),
        ("Nemo", "nemo", NEMO_ACTION, nemo_action(launcher)),
    )
    for name, program, target, text in file_managers:
        if which(program) is None:
            report.skipped.append(f"{name}: not installed")
            continue
        # Nautilus runs only executable scripts; Plasma 6 only executable service menus.
        _write(base / target, text, report, executable=program != "nemo")
    for stale in previous - set(report.written):  # an action for a file manager now gone
        _remove(stale, report)
    _write_manifest(base, report.written)
    _refresh_caches(base)
    return report


def uninstall_desktop() -> DesktopReport:
    base = data_home()
    report = DesktopReport()
    installed = _read_manifest(base)
    if not installed:
        report.skipped.append("nothing: Captionist's desktop files are not installed")
        return report
    for path in sorted(installed):
        _remove(path, report)
    (base / MANIFEST).unlink(missing_ok=True)
    _refresh_caches(base)
    return report


def _write(path: Path, text: str, report: DesktopReport, *, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.chmod(0o755 if executable else 0o644)
    partial.replace(path)  # a menu never reads half a file
    report.written.append(path)


def _copy(source: Path, target: Path, report: DesktopReport) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    report.written.append(target)


def _remove(path: Path, report: DesktopReport) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    report.removed.append(path)


def _read_manifest(base: Path) -> set[Path]:
    try:
        listed = json.loads((base / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    # Only paths under the data home: a hand-edited manifest cannot delete elsewhere.
    return {Path(p) for p in listed if Path(p).is_relative_to(base)}


def _write_manifest(base: Path, written: list[Path]) -> None:
    path = base / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([str(p) for p in written], indent=1), encoding="utf-8")


def _refresh_caches(base: Path) -> None:
    """Menus and icon themes cache what they list; refresh them where the tools exist
    (desktops also notice on their own, later)."""
    for command in (
        ["update-desktop-database", "-q", str(base / "applications")],
        ["gtk-update-icon-cache", "-q", "-t", "-f", str(base / "icons" / "hicolor")],
    ):
        if shutil.which(command[0]):
            subprocess.run(command, check=False, capture_output=True, timeout=30)  # noqa: S603
