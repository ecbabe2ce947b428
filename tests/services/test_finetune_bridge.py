"""FinetuneBridge: the command line it runs, its signals from a real `finetune --json`
process, and every way a run can end (done, refused, error, crash, cancel, no start).

Most endings are driven by `finetune_event_double.py`, a test double that prints the
contract's events; the real CLI is run too (a refusal on an empty library here, a whole
training run on the tiny model in the real-run test)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from app.core.finetune.adapters import AdapterRegistry
from app.core.finetune.events import Done, Step
from app.core.storage.db import Database
from app.services.finetune_bridge import (
    FinetuneBridge,
    FinetuneRequest,
    InstallRunner,
    cli_command,
    finetune_command,
)
from tests.finetune_fixtures import BASE_WEIGHTS, corrected_library, install_fixture_model

DOUBLE = Path(__file__).with_name("finetune_event_double.py")
WAIT = 20_000


class Recorder:
    """Everything a bridge emits, in order."""

    def __init__(self, bridge: FinetuneBridge) -> None:
        self.steps: list[Step] = []
        self.phases: list[tuple[str, str]] = []
        self.downloads: list[tuple[int, int | None]] = []
        self.evaluated: list[tuple[str, dict[str, float], list[Any]]] = []
        self.trained: list[Done] = []
        self.registered: list[dict[str, Any]] = []
        self.decisions: list[tuple[bool, str, str]] = []
        self.logs: list[str] = []
        self.endings: list[tuple[str, ...]] = []
        bridge.step_reported.connect(self.steps.append)
        bridge.phase_changed.connect(lambda *a: self.phases.append(a))
        bridge.download_progressed.connect(lambda *a: self.downloads.append(a))
        bridge.evaluated.connect(lambda *a: self.evaluated.append(a))
        bridge.trained.connect(self.trained.append)
        bridge.registered.connect(self.registered.append)
        bridge.activation_decided.connect(lambda *a: self.decisions.append(a))
        bridge.log_line.connect(self.logs.append)
        bridge.succeeded.connect(lambda: self.endings.append(("succeeded",)))
        bridge.failed.connect(lambda message: self.endings.append(("failed", message)))
        bridge.cancelled.connect(lambda: self.endings.append(("cancelled",)))


def double_bridge(
    qtbot: QtBot, tmp_path: Path, scenario: str, steps: int = 6, delay: float = 0.0
) -> tuple[FinetuneBridge, Recorder]:
    def command(_request: FinetuneRequest) -> list[str]:
        return [sys.executable, str(DOUBLE), scenario, str(steps), str(delay)]

    bridge = FinetuneBridge(tmp_path, command=command)
    recorder = Recorder(bridge)
    return bridge, recorder


def run_to_end(qtbot: QtBot, bridge: FinetuneBridge, recorder: Recorder) -> None:
    assert bridge.start(FinetuneRequest())
    qtbot.waitUntil(lambda: bool(recorder.endings), timeout=WAIT)
    qtbot.waitUntil(lambda: not bridge.running(), timeout=WAIT)


# -- the command line ---------------------------------------------------------------------
def test_command_is_the_cli_with_the_screens_options(tmp_path: Path) -> None:
    argv = finetune_command(tmp_path, FinetuneRequest(epochs=5, rank=16, holdout=0.25, force=True))
    assert argv[0] == sys.executable
    assert Path(argv[1]).name == "main.py" and Path(argv[1]).is_file()
    assert argv[2:] == [
        "--data-dir", str(tmp_path), "finetune", "--json",
        "--epochs", "5", "--rank", "16", "--holdout", "0.25", "--force",
    ]  # fmt: skip
    assert FinetuneRequest().cli_args() == ["finetune", "--json"]  # the CLI's defaults
    more = FinetuneRequest(
        learning_rate=5e-3, method="lora", model="smolvlm2-256m", base_weights=tmp_path / "hf"
    )
    assert more.cli_args()[2:] == [
        "--learning-rate", "0.005", "--method", "lora",
        "--model", "smolvlm2-256m", "--base-weights", str(tmp_path / "hf"),
    ]  # fmt: skip


def test_frozen_app_runs_its_console_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bundle runs its subcommands with `captionist-cli` beside the app (a windowed
    Windows program has no stdout to read events from), or itself if there is none."""
    bundle = tmp_path / "Captionist"
    bundle.mkdir()
    app = bundle / "captionist"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(app))
    assert cli_command(tmp_path, "finetune") == [str(app), "--data-dir", str(tmp_path), "finetune"]
    console = bundle / ("captionist-cli.exe" if sys.platform == "win32" else "captionist-cli")
    console.touch()
    assert cli_command(tmp_path, "finetune")[0] == str(console)


# -- endings, from the contract double ------------------------------------------------------
def test_a_whole_run_becomes_signals_in_order(qtbot: QtBot, tmp_path: Path) -> None:
    bridge, rec = double_bridge(qtbot, tmp_path, "ok", steps=7)
    run_to_end(qtbot, bridge, rec)
    assert rec.endings == [("succeeded",)]
    assert [s.step for s in rec.steps] == list(range(1, 8))
    assert rec.steps[-1].total_steps == 7 and rec.steps[-1].epochs == 3
    assert rec.steps[1].loss == pytest.approx(1.5)
    assert rec.steps[-1].eta_seconds == pytest.approx(0.0)
    assert [p for p, _m in rec.phases] == ["download", "train"]
    assert rec.downloads == [(3_000_000_000, 6_000_000_000)]  # past 2**31: 64-bit signal
    assert [(w, m["cider"]) for w, m, _s in rec.evaluated] == [("before", 0.3), ("after", 0.9)]
    assert rec.trained[0].adapter_gguf == "/x/adapter.gguf"
    assert rec.registered == [{"id": "m-v1", "version": 1}]
    assert rec.decisions == [(True, "m-v1", "")]
    assert "double: starting" in rec.logs  # stderr is passed on as log lines
    assert bridge.last_outcome == "succeeded"
    kinds = [e.event for e in bridge.history()]
    assert kinds[0] == "prepared" and kinds[-1] == "activated"


def test_not_activated_carries_the_reason(qtbot: QtBot, tmp_path: Path) -> None:
    bridge, rec = double_bridge(qtbot, tmp_path, "worse", steps=2)
    run_to_end(qtbot, bridge, rec)
    assert rec.decisions == [
        (False, "m-v1", "m-v1 was not activated: it scores worse (CIDEr 0.300 → 0.100)")
    ]
    assert rec.endings == [("succeeded",)]


def test_last_line_without_newline_is_not_lost(qtbot: QtBot, tmp_path: Path) -> None:
    bridge, rec = double_bridge(qtbot, tmp_path, "partial", steps=1)
    run_to_end(qtbot, bridge, rec)
    assert rec.decisions == [(True, "m-v1", "")]


def test_error_event_is_the_failure_message(qtbot: QtBot, tmp_path: Path) -> None:
    bridge, rec = double_bridge(qtbot, tmp_path, "error")
    run_to_end(qtbot, bridge, rec)
    assert rec.endings == [("failed", "only 2 corrections can be trained on")]


def test_crash_without_event_says_what_stderr_said(qtbot: QtBot, tmp_path: Path) -> None:
    bridge, rec = double_bridge(qtbot, tmp_path, "crash")
    run_to_end(qtbot, bridge, rec)
    assert len(rec.endings) == 1 and rec.endings[0][0] == "failed"
    message = rec.endings[0][1]
    assert "exit code 3" in message and "the double fell over" in message


def test_cancel_stops_promptly_and_ends_cancelled(qtbot: QtBot, tmp_path: Path) -> None:
    bridge, rec = double_bridge(qtbot, tmp_path, "slow", delay=0.02)
    assert bridge.start(FinetuneRequest())
    qtbot.waitUntil(lambda: len(rec.steps) >= 3, timeout=WAIT)
    assert not bridge.start(FinetuneRequest())  # one run at a time
    asked = time.monotonic()
    bridge.cancel()
    qtbot.waitUntil(lambda: bool(rec.endings), timeout=WAIT)
    assert time.monotonic() - asked < 3.0
    assert rec.endings == [("cancelled",)]
    assert not bridge.running()
    assert bridge.history()[-1].to_dict() == {"event": "cancelled"}


def test_a_command_that_does_not_start_fails_clearly(qtbot: QtBot, tmp_path: Path) -> None:
    bridge = FinetuneBridge(tmp_path, command=lambda _r: [str(tmp_path / "no-such-program")])
    rec = Recorder(bridge)
    bridge.start(FinetuneRequest())
    qtbot.waitUntil(lambda: bool(rec.endings), timeout=WAIT)
    assert rec.endings[0][0] == "failed"
    assert rec.endings[0][1].startswith("The fine-tune could not be started")
    assert len(rec.endings) == 1


def test_shutdown_cancels_a_running_job(qtbot: QtBot, tmp_path: Path) -> None:
    bridge, rec = double_bridge(qtbot, tmp_path, "slow", delay=0.02)
    bridge.start(FinetuneRequest())
    qtbot.waitUntil(lambda: len(rec.steps) >= 1, timeout=WAIT)
    bridge.shutdown(5000)
    assert not bridge.running()
    qtbot.waitUntil(lambda: bool(rec.endings), timeout=WAIT)
    assert rec.endings == [("cancelled",)]


# -- the real command -----------------------------------------------------------------------
def test_real_cli_refusal_reaches_the_screen(qtbot: QtBot, data_dir: DataDir) -> None:
    """`captionist finetune --json` on a library with no model and no corrections: the
    job refuses before anything starts, and its reason is the bridge's failure."""
    bridge = FinetuneBridge(data_dir.root)
    rec = Recorder(bridge)
    assert bridge.start(FinetuneRequest(epochs=1, rank=8, holdout=0.2))
    qtbot.waitUntil(lambda: bool(rec.endings), timeout=60_000)
    assert rec.endings[0][0] == "failed"
    message = rec.endings[0][1]
    assert "model" in message.lower() and "Traceback" not in message
    errors = [e.to_dict() for e in bridge.history() if e.event == "error"]
    assert errors and errors[-1]["message"] == message


# -- the installer runner -------------------------------------------------------------------
def test_installer_output_and_ending(qtbot: QtBot) -> None:
    runner = InstallRunner()
    lines: list[str] = []
    endings: list[tuple[bool, str]] = []
    runner.output.connect(lines.append)
    runner.finished.connect(lambda ok, message: endings.append((ok, message)))
    script = "import sys; print('Collecting peft'); print('Successfully installed peft-0.21')"
    runner.start([sys.executable, "-c", script])
    qtbot.waitUntil(lambda: bool(endings), timeout=WAIT)
    assert endings == [(True, "Training components installed.")]
    assert "Successfully installed peft-0.21" in lines
    assert lines[0].startswith("$ ")

    endings.clear()
    runner.start(
        [sys.executable, "-c", "import sys; print('ERROR: no matching dist'); sys.exit(1)"]
    )
    qtbot.waitUntil(lambda: bool(endings), timeout=WAIT)
    assert endings == [(False, "Installation failed (exit code 1): ERROR: no matching dist")]


def test_installer_cancel(qtbot: QtBot) -> None:
    runner = InstallRunner()
    endings: list[tuple[bool, str]] = []
    runner.finished.connect(lambda ok, message: endings.append((ok, message)))
    runner.start(
        [sys.executable, "-c", "import time; print('downloading', flush=True); time.sleep(60)"]
    )
    qtbot.waitUntil(runner.running, timeout=WAIT)
    runner.cancel()
    qtbot.waitUntil(lambda: bool(endings), timeout=WAIT)
    assert endings == [(False, "Installation cancelled.")]


# -- the real command on the tiny model ------------------------------------------------------
REAL_WAIT = 900_000


def real_library(data_dir: DataDir, tmp_path: Path) -> FinetuneBridge:
    install_fixture_model(data_dir)
    corrected_library(data_dir, tmp_path / "photos")
    return FinetuneBridge(data_dir.root)


REAL_REQUEST = FinetuneRequest(epochs=6, rank=8, holdout=0.2, base_weights=BASE_WEIGHTS)


@pytest.mark.slow
def test_real_run_signals_in_order(qtbot: QtBot, data_dir: DataDir, tmp_path: Path) -> None:
    bridge = real_library(data_dir, tmp_path)
    rec = Recorder(bridge)
    order: list[str] = []
    bridge.event_received.connect(lambda e: order.append(e.event))
    assert bridge.start(REAL_REQUEST)
    qtbot.waitUntil(lambda: bool(rec.endings), timeout=REAL_WAIT)
    assert rec.endings == [("succeeded",)], rec.logs[-20:]
    assert order[0] == "plan" and order[-1] in ("activated", "not_activated")
    assert order.index("prepared") < order.index("step") < order.index("done")
    phases = [p for p, _m in rec.phases if p in ("train", "export", "verify", "evaluate")]
    assert list(dict.fromkeys(phases)) == [
        "train", "export", "verify", "evaluate"
    ]  # fmt: skip
    assert rec.steps and rec.steps[-1].step == rec.steps[-1].total_steps
    assert rec.steps[-1].epochs == 6 and all(s.loss > 0 for s in rec.steps)
    assert [w for w, _m, _s in rec.evaluated] == ["before", "after"]
    (done,) = rec.trained
    assert done.adapter_gguf is not None
    adapter = Path(done.adapter_gguf)
    assert adapter.is_file() and adapter.parent.parent == data_dir.adapters
    (record,) = rec.registered
    assert record["gguf_path"] == str(adapter)
    assert rec.decisions[0][1] == record["id"]


@pytest.mark.slow
def test_real_cancel_leaves_no_adapter(qtbot: QtBot, data_dir: DataDir, tmp_path: Path) -> None:
    bridge = real_library(data_dir, tmp_path)
    rec = Recorder(bridge)
    assert bridge.start(REAL_REQUEST)
    qtbot.waitUntil(lambda: bool(rec.steps) or bool(rec.endings), timeout=REAL_WAIT)
    assert not rec.endings, rec.logs[-20:]
    asked = time.monotonic()
    bridge.cancel()
    qtbot.waitUntil(lambda: bool(rec.endings), timeout=60_000)
    assert rec.endings == [("cancelled",)]
    assert time.monotonic() - asked < 15  # between two steps of the tiny model, plus cleanup
    assert not rec.registered and not any(data_dir.adapters.iterdir())
    db = Database(data_dir.database)
    try:
        assert AdapterRegistry(db).list() == []
    finally:
        db.close()
