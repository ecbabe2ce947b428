"""The supervisor starts the worker so that a native abort costs no gdb run."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from app.core.captioning import supervisor as supervisor_module
from app.core.captioning.supervisor import WorkerSupervisor


def test_the_worker_runs_without_ggml_backtraces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, Any] = {}

    class FakeProcess:
        stdout = io.StringIO("")

        def wait(self) -> int:
            return 0

    def popen(command: list[str], **kwargs: Any) -> FakeProcess:
        started.update(kwargs, command=command)
        return FakeProcess()

    monkeypatch.setattr(supervisor_module.subprocess, "Popen", popen)
    monkeypatch.delenv("GGML_NO_BACKTRACE", raising=False)
    monkeypatch.setenv("CAPTIONIST_SOMETHING", "kept")

    WorkerSupervisor(tmp_path, on_event=lambda _e: None)._run_once()

    assert started["env"]["GGML_NO_BACKTRACE"] == "1"
    assert started["env"]["CAPTIONIST_SOMETHING"] == "kept"  # the rest is inherited
