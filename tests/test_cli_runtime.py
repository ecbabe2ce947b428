"""`captionist finetune-runtime status|install|remove`, with a stand-in uv
(tests/models/fake_uv.py); the real install from the bundle is tests/test_bundle_finetune.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.finetune import runtime

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the stand-in uv is a shell script")
ROOT = Path(__file__).resolve().parents[1]
FAKE_UV = ROOT / "tests" / "models" / "fake_uv.py"


def cli(data: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", "--data-dir", str(data), "finetune-runtime", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_status_install_remove(tmp_path: Path) -> None:
    uv = tmp_path / "uv"
    uv.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_UV}" "$@"\n', encoding="utf-8")
    uv.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_UV", "UV_"))}
    env[runtime.UV_ENV] = str(uv)
    data = tmp_path / "data"
    (status,) = lines(cli(data, env, "status", "--json").stdout)
    assert status["ready"] is False and status["packaged"] is False
    assert "not installed (about " in cli(data, env, "status").stdout

    installed = cli(data, env, "install", "--json")
    assert installed.returncode == 0, installed.stderr
    events = lines(installed.stdout)
    stages = [e["message"] for e in events if e["event"] == "stage"]
    assert stages[0].startswith("Creating the environment (Python ")
    assert events[-1]["event"] == "done" and str(events[-1]["message"]).startswith(
        "Training components installed ("
    )
    (status,) = lines(cli(data, env, "status", "--json").stdout)
    assert status["ready"] is True and status["torch_variant"] == runtime.torch_variant()

    removed = cli(data, env, "remove")
    assert removed.returncode == 0
    assert removed.stdout.startswith("Removed the training components: ")
    assert not (data / "runtime").exists()


def test_offline_install_says_what_it_needs(tmp_path: Path) -> None:
    uv = tmp_path / "uv"
    uv.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_UV}" "$@"\n', encoding="utf-8")
    uv.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_UV", "UV_"))}
    env |= {runtime.UV_ENV: str(uv), "FAKE_UV_FAIL": "error: dns error: failed to lookup"}
    failed = cli(tmp_path / "data", env, "install")
    assert failed.returncode == 1
    assert failed.stderr.strip() == "error: " + runtime.offline_message(runtime.torch_variant())
