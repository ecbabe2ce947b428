"""`captionist finetune` and `captionist adapters` across the process boundary, with the
real training process on the tiny SmolVLM fixture (trained once per session, see
tests/finetune_fixtures.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli.finetune import _HumanPrinter
from app.core.datadir import DataDir
from app.core.finetune.adapters import AdapterRegistry
from app.core.finetune.events import FINETUNE_JOB
from app.core.finetune.job import LORA_LAYERS
from app.core.storage.db import Database
from tests.finetune_fixtures import (
    BASE_WEIGHTS,
    MODEL_ID,
    ROOT,
    TrainedLibrary,
    cli,
    copy_trained_library,
    corrected_library,
    install_fixture_model,
)


def test_finetune_json_trains_registers_and_activates(trained_library: TrainedLibrary) -> None:
    events = trained_library.events
    kinds = [e["event"] for e in events]
    # The app's own events frame the training process's.
    assert kinds[0] == "plan" and events[0]["possible"]
    prepared = events[kinds.index("prepared")]
    assert (prepared["examples"], prepared["heldout"], prepared["skipped"]) == (4, 1, [])
    steps = [e for e in events if e["event"] == "step"]
    assert steps and steps[-1]["step"] == steps[-1]["total_steps"]
    assert all(isinstance(e["loss"], float) for e in steps)
    evaluated = {e["which"]: e for e in events if e["event"] == "evaluated"}
    assert set(evaluated) == {"before", "after"}
    (sample,) = evaluated["after"]["samples"]
    assert sample["id"] == f"item-{trained_library.items['chelsea']}"
    assert sample["reference"] == "a ginger cat looks up"
    done = events[kinds.index("done")]
    assert set(done["metrics_after"]) == {"bleu4", "rouge_l", "cider"}
    assert kinds.index("done") < kinds.index("registered") < kinds.index("activated")
    assert kinds[-1] == "activated"
    (registered,) = [e for e in events if e["event"] == "registered"]
    # The default: LoRA on every linear layer of the language model, exported and loaded.
    assert registered["adapter"]["settings"]["lora"]["target_modules"] == list(LORA_LAYERS["all"])

    adapters = trained_library.data_dir.adapters
    assert sorted(p.name for p in adapters.iterdir()) == [trained_library.adapter_id]
    assert Path(done["adapter_gguf"]).is_file()
    assert not (trained_library.data_dir.root / "finetune" / trained_library.adapter_id).exists()

    listed = cli(trained_library.data_dir.root, "adapters", "list", "--json")
    (record,) = json.loads(listed.stdout)
    assert record["id"] == trained_library.adapter_id and record["active"]
    assert record["metrics_after"] == done["metrics_after"]
    assert record["corrections_used"] == 4 and record["heldout_count"] == 1


def test_human_progress_lines_and_final_metrics(
    trained_library: TrainedLibrary, capsys: pytest.CaptureFixture[str]
) -> None:
    printer = _HumanPrinter()
    for line in trained_library.result.stdout.splitlines():
        event = FINETUNE_JOB.decode(line)  # as a reader of `finetune --json` decodes it
        assert event is not None and event.to_json() == line  # every line, byte for byte
        printer(event)
    out = capsys.readouterr().out
    assert "4 corrected items to train on, 1 held out to measure" in out
    assert "  step 1/" in out and "loss " in out and "epoch " in out
    assert "held-out scores, before → after:" in out
    for name in ("BLEU-4", "ROUGE-L", "CIDEr"):
        assert f"  {name}" in out
    assert f"captions are now made with adapter {trained_library.adapter_id}" in out


def test_adapters_commands(trained_library: TrainedLibrary, tmp_path: Path) -> None:
    data_dir = copy_trained_library(trained_library, tmp_path / "data")
    data, adapter = data_dir.root, trained_library.adapter_id

    listed = cli(data, "adapters", "list")
    assert listed.returncode == 0 and listed.stdout.startswith(f"* {adapter}")

    assert cli(data, "adapters", "deactivate").stdout.strip() == (
        f"{MODEL_ID}: adapter {adapter} deactivated"
    )
    assert cli(data, "adapters", "list").stdout.startswith(f"  {adapter}")
    activated = cli(data, "adapters", "activate", adapter)
    assert activated.returncode == 0 and adapter in activated.stdout
    rolled = cli(data, "adapters", "rollback", "--model", MODEL_ID)
    assert rolled.returncode == 0 and rolled.stdout.strip() == f"{MODEL_ID}: back to no adapter"

    unknown = cli(data, "adapters", "activate", "nope-v9")
    assert unknown.returncode == 1 and "no adapter 'nope-v9'" in unknown.stderr
    nothing = cli(data, "adapters", "rollback")
    assert nothing.returncode == 1 and "nothing to roll back" in nothing.stderr
    assert "Traceback" not in unknown.stderr + nothing.stderr


def test_a_broken_adapter_file_is_refused_from_the_command_line(
    trained_library: TrainedLibrary, tmp_path: Path
) -> None:
    data_dir = copy_trained_library(trained_library, tmp_path / "data")
    db = Database(data_dir.database)
    try:
        registry = AdapterRegistry(db)
        good = registry.active_for(MODEL_ID)
        assert good is not None
        adapter_id, version = registry.new_id(MODEL_ID, adapters_dir=data_dir.adapters)
        broken = data_dir.adapters / adapter_id / "adapter.gguf"
        broken.parent.mkdir()
        broken.write_bytes(b"GGUF" + bytes(100))
        registry.register(
            adapter_id=adapter_id,
            version=version,
            model_id=MODEL_ID,
            gguf_path=broken,
            base_gguf=Path(good.base_gguf),
            method="lora",
            settings={},
            corrections_used=4,
            heldout_count=0,
        )
    finally:
        db.close()
    refused = cli(data_dir.root, "adapters", "activate", adapter_id, "--force")
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: {adapter_id} cannot be used:")
    listed = json.loads(cli(data_dir.root, "adapters", "list", "--json").stdout)
    assert [r["id"] for r in listed if r["active"]] == [good.id]


def test_cancel_leaves_no_adapter(tmp_path: Path) -> None:
    data_dir = DataDir.resolve(tmp_path / "data")
    install_fixture_model(data_dir)
    corrected_library(data_dir, tmp_path / "photos")
    process = subprocess.Popen(
        [
            sys.executable,
            "main.py",
            "--data-dir",
            str(data_dir.root),
            "finetune",
            "--json",
            "--base-weights",
            str(BASE_WEIGHTS),
            "--epochs",
            "200",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    events = []
    deadline = time.monotonic() + 600
    for line in process.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "step":
            process.send_signal(signal.SIGTERM)  # what the screen's Cancel does
            break
        assert time.monotonic() < deadline
    rest, errors = process.communicate(timeout=120)
    events += [json.loads(line) for line in rest.splitlines() if line.strip()]

    assert process.returncode == 2, errors[-2000:]
    assert events[-1] == {"event": "cancelled"}
    assert not any(e["event"] in ("done", "registered", "activated") for e in events)
    assert list(data_dir.adapters.iterdir()) == []
    assert json.loads(cli(data_dir.root, "adapters", "list", "--json").stdout) == []


def test_a_refusal_is_a_message_and_exit_code_1(tmp_path: Path) -> None:
    data_dir = DataDir.resolve(tmp_path / "data")
    install_fixture_model(data_dir)
    corrected_library(data_dir, tmp_path / "photos", {"cat": "a tabby cat in the grass"})
    human = cli(data_dir.root, "finetune", "--base-weights", str(BASE_WEIGHTS))
    assert human.returncode == 1
    assert human.stderr.startswith("error: ") and "Traceback" not in human.stderr
    machine = cli(data_dir.root, "finetune", "--json", "--holdout", "0")
    assert machine.returncode == 1
    last = json.loads(machine.stdout.splitlines()[-1])
    assert last["event"] == "error" and last["refused"] and last["message"]
    bad = cli(data_dir.root, "finetune", "--holdout", "0.95")
    assert bad.returncode == 1 and "--holdout must be between 0 and 0.9" in bad.stderr
