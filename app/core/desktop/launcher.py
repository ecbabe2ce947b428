"""The command that starts this Captionist, as a desktop entry or a file manager runs it.

A frozen app is its own executable; an installed one has the `captionist` launcher
beside its Python (the venv's bin/ or Scripts\\); a source checkout without an install
runs main.py with this Python. Absolute paths throughout: desktop launchers and file
managers run with a minimal PATH that does not include a venv.
"""

from __future__ import annotations

import sys
from pathlib import Path

MAIN_PY = Path(__file__).resolve().parents[3] / "main.py"
CONSOLE_NAME = "captionist-cli"  # the bundle's console executable (packaging/captionist.spec)


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def headless_command() -> list[str]:
    """argv up to `--data-dir` for the subcommands the app runs as child processes (the
    caption worker, the fine-tune job), whose stdout it reads. A bundle uses its console
    executable: a windowed one has no stdout on Windows."""
    if not is_frozen():
        return [sys.executable, str(MAIN_PY)]
    console = Path(sys.executable).with_name(
        CONSOLE_NAME + (".exe" if sys.platform == "win32" else "")
    )
    return [str(console) if console.is_file() else sys.executable]


def launcher_command(data_dir: str | None = None) -> list[str]:
    """argv up to the subcommand; `data_dir` only when the user chose one explicitly."""
    if is_frozen():
        command = [sys.executable]
    else:
        name = "captionist.exe" if sys.platform == "win32" else "captionist"
        script = Path(sys.executable).with_name(name)
        command = [str(script)] if script.is_file() else [sys.executable, str(MAIN_PY)]
    if data_dir:
        command += ["--data-dir", str(Path(data_dir).expanduser().resolve())]
    return command
