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


def launcher_command(data_dir: str | None = None) -> list[str]:
    """argv up to the subcommand; `data_dir` only when the user chose one explicitly."""
    if getattr(sys, "frozen", False):
        command = [sys.executable]
    else:
        name = "captionist.exe" if sys.platform == "win32" else "captionist"
        script = Path(sys.executable).with_name(name)
        command = [str(script)] if script.is_file() else [sys.executable, str(MAIN_PY)]
    if data_dir:
        command += ["--data-dir", str(Path(data_dir).expanduser().resolve())]
    return command
