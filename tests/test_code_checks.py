"""The linter, the formatter and the type checker, run as tests so the suite fails when any
of them would: the configuration lives in pyproject.toml ([tool.ruff], [tool.mypy])."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs a tool from the same environment as the tests (the venv's bin directory), so the
    versions pinned in pyproject's dev extra are the ones that judge the code."""
    tool = shutil.which(name, path=str(Path(sys.executable).parent))
    command = [tool, *args] if tool else [sys.executable, "-m", name, *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_lint_passes() -> None:
    result = run_tool("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_applied() -> None:
    result = run_tool("ruff", "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_passes() -> None:
    # Files and strictness come from [tool.mypy]; the cache (.mypy_cache) makes reruns fast.
    result = run_tool("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
