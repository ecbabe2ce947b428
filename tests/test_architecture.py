"""The layering from ARCHITECTURE.md, enforced on every test run.

app.core and models never import Qt; models never imports app; ui -> services -> core.
The contracts live in pyproject.toml ([tool.importlinter]).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken" in result.stdout


def test_core_runs_without_qt_installed_in_the_process() -> None:
    """Importing the whole core in a fresh interpreter never loads PySide6."""
    code = (
        "import sys, app.cli.main, app.core.library.library, app.core.search, app.core.captions;"
        "import app.core.library.watcher;"
        "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_gui_and_cli_start_without_loading_llama_cpp() -> None:
    """llama.cpp is loaded only by the caption worker process."""
    code = (
        "import sys, app.cli.main, app.ui.window.main_window, app.core.captioning.supervisor;"
        "assert 'llama_cpp' not in sys.modules, 'llama.cpp imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_worker_exit_codes_are_declared_once() -> None:
    """The worker, its supervisor and `caption` share app.core.captioning.events.WorkerExit
    instead of repeating the numbers (which a test then had to keep in step)."""
    from app.cli import caption as cli_caption
    from app.core.captioning import events, supervisor, worker

    for module in (cli_caption, supervisor, worker):
        assert module.WorkerExit is events.WorkerExit
        repeated = [n for n in vars(module) if n.startswith("EXIT_") and n != "EXIT_USAGE"]
        assert not repeated, f"{module.__name__} repeats {repeated}"
    assert events.WorkerExit.NO_MODEL == 3 and events.WorkerExit.ALREADY_RUNNING == 5


def test_raw_sql_stays_in_storage() -> None:
    """`exec_driver_sql` (raw SQL) is called only in app/core/storage/: everything else
    asks storage functions or builds SQLAlchemy Core statements."""
    callers = {
        path.relative_to(ROOT).as_posix()
        for folder in ("app", "models")
        for path in (ROOT / folder).rglob("*.py")
        if "exec_driver_sql" in path.read_text(encoding="utf-8")
    }
    assert {p for p in callers if not p.startswith("app/core/storage/")} == set()
