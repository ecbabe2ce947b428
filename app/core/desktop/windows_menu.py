"""Explorer's "Caption with Captionist" on Windows: per-user registry verbs (no admin)
for photos and videos (their perceived types) and folders.

Explorer starts one process per selected file with this kind of verb; each hands its
file to the open window (single instance), so selecting many files still ends in one
window with all of them queued. `install-desktop` writes the keys on Windows; the same
entries as a .reg file document them and can be imported by hand (packaging/windows).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.desktop.entries import FILE_MANAGER_ACTION

VERB = "Captionist.CaptionThis"
CLASSES = r"Software\Classes"
TARGETS = (r"SystemFileAssociations\image", r"SystemFileAssociations\video", "Directory")


@dataclass(frozen=True)
class RegistryValue:
    key: str  # below HKEY_CURRENT_USER
    name: str  # "" is the key's default value
    value: str


def verb_key(target: str) -> str:
    """The verb's key below HKEY_CURRENT_USER for one target (a perceived type, folders)."""
    return rf"{CLASSES}\{target}\shell\{VERB}"


def command_line(argv: Sequence[str]) -> str:
    """Windows quoting (CommandLineToArgvW rules, which Python's argv parsing follows)."""
    return subprocess.list2cmdline(list(argv))


def registry_values(launcher: Sequence[str], icon: str) -> list[RegistryValue]:
    command = command_line([*launcher, "caption-this"]) + ' "%1"'
    values = []
    for target in TARGETS:
        verb = verb_key(target)
        values += [
            RegistryValue(verb, "", FILE_MANAGER_ACTION),
            RegistryValue(verb, "Icon", icon),
            RegistryValue(verb, "MultiSelectModel", "Document"),  # one process per file
            RegistryValue(rf"{verb}\command", "", command),
        ]
    return values


def reg_file(values: Sequence[RegistryValue]) -> str:
    """The values as a .reg file (UTF-16 is what regedit writes; it reads UTF-8 too)."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["Windows Registry Editor Version 5.00", ""]
    current = None
    for v in values:
        if v.key != current:
            if current is not None:
                lines.append("")
            lines.append(f"[HKEY_CURRENT_USER\\{v.key}]")
            current = v.key
        lines.append(f"{'@' if not v.name else quoted(v.name)}={quoted(v.value)}")
    return "\r\n".join(lines) + "\r\n"


def write_registry(values: Sequence[RegistryValue]) -> None:  # pragma: no cover - Windows
    if sys.platform != "win32":
        raise OSError("the Explorer menu can only be written on Windows")
    import winreg

    for v in values:
        with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, v.key) as key:
            winreg.SetValueEx(key, v.name or None, 0, winreg.REG_SZ, v.value)


def remove_registry() -> None:  # pragma: no cover - Windows
    if sys.platform != "win32":
        raise OSError("the Explorer menu can only be removed on Windows")
    import winreg

    for target in TARGETS:
        verb = verb_key(target)
        for key in (rf"{verb}\command", verb):
            with contextlib.suppress(FileNotFoundError):  # never installed, or removed
                winreg.DeleteKey(winreg.HKEY_CURRENT_USER, key)
