"""The training process as the app runs it: `python -m models.finetune.run SPEC.json`.

Real subprocesses on the tiny SmolVLM fixture: the whole job with its event stream, a
cancel mid-training (exit 2, nothing left behind), and the refusals and errors a user can
cause, each a clear `error` event with exit code 1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from models.finetune.adapter_check import check_adapter
from models.finetune.plan import MIN_TRAINING_EXAMPLES
from tests.models.conftest import fixture_pair
from tests.models.finetune_data import CAPTIONS, spec_dict

ROOT = Path(__file__).resolve().parents[2]
STEP_KEYS = {"event", "step", "total_steps", "epoch", "epochs", "loss", "elapsed_seconds",
             "eta_seconds"}  # fmt: skip
DONE_KEYS = {"event", "adapter_gguf", "peft_dir", "method", "method_reason", "train_seconds",
             "peak_rss_mb", "final_loss", "metrics_before", "metrics_after"}  # fmt: skip
LIMITS = {"caption_chars": 48, "max_tags": 2}  # the untrained model babbles to the limit


def start(spec: dict[str, Any], tmp_path: Path) -> subprocess.Popen[str]:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "models.finetune.run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,  # as the app runs it: not from the source tree
    )


def run(spec: dict[str, Any], tmp_path: Path) -> tuple[int, list[dict[str, Any]]]:
    process = start(spec, tmp_path)
    out, _ = process.communicate(timeout=240)
    return process.returncode, [json.loads(line) for line in out.splitlines()]


def leftovers(spec: dict[str, Any]) -> list[Path]:
    output = Path(spec["output_dir"])
    return [p for p in (output, output.with_name(output.name + ".partial")) if p.exists()]


@pytest.mark.slow
def test_a_whole_job_streams_its_events_and_leaves_a_working_adapter(tmp_path: Path) -> None:
    spec = spec_dict(tmp_path, answer_limits=LIMITS)
    code, events = run(spec, tmp_path)
    assert code == 0, events[-1]
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    assert phases == ["download", "load", "train", "export", "verify", "evaluate", "evaluate"]
    steps = [e for e in events if e["event"] == "step"]
    assert steps and all(set(s) == STEP_KEYS for s in steps)
    assert steps[-1]["step"] == steps[-1]["total_steps"] == 4 * spec["train"]["epochs"]
    assert [s["step"] for s in steps] == sorted({s["step"] for s in steps})
    assert steps[-1]["loss"] < steps[0]["loss"] / 2
    evaluated = {e["which"]: e for e in events if e["event"] == "evaluated"}
    assert set(evaluated) == {"before", "after"}
    after = evaluated["after"]["samples"]
    assert [s["id"] for s in after] == ["held-astronaut", "held-coffee"]
    assert all(s["candidate"] == CAPTIONS[s["id"].removeprefix("held-")] for s in after)
    done = events[-1]
    assert done["event"] == "done" and set(done) == DONE_KEYS
    assert done["method"] == "lora" and "CPU" in done["method_reason"]
    assert done["metrics_after"] == evaluated["after"]["metrics"]
    assert done["metrics_after"]["cider"] > done["metrics_before"]["cider"] + 5
    assert done["peak_rss_mb"] > 100 and done["train_seconds"] > 0
    output = Path(spec["output_dir"])
    assert Path(done["adapter_gguf"]) == output / "adapter.gguf"
    assert (output / "peft" / "adapter_model.safetensors").is_file()
    summary = json.loads((output / "training.json").read_text())
    assert summary["examples"] == list(CAPTIONS) and summary["settings"]["lora"]["rank"] == 32
    check_adapter(fixture_pair("smolvlm")[0], output / "adapter.gguf")
    assert leftovers(spec) == [output]  # no .partial folder


@pytest.mark.slow
def test_cancel_mid_training_exits_2_and_leaves_nothing(tmp_path: Path) -> None:
    spec = spec_dict(tmp_path, train={"epochs": 500, "learning_rate": 5e-3})
    process = start(spec, tmp_path)
    assert process.stdout is not None
    events, sent = [], None
    for line in process.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "step" and sent is None:
            assert Path(spec["output_dir"] + ".partial").is_dir()  # work in progress
            process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
    code = process.wait(timeout=60)
    assert sent is not None and time.monotonic() - sent < 15
    assert code == 2 and events[-1] == {"event": "cancelled"}
    assert events[-2]["event"] == "step" and events[-2]["step"] < 100
    assert leftovers(spec) == []


def test_too_few_corrections_are_refused_before_any_work(tmp_path: Path) -> None:
    names = tuple(CAPTIONS)[: MIN_TRAINING_EXAMPLES - 1]
    spec = spec_dict(tmp_path, names=names)
    started = time.monotonic()
    code, events = run(spec, tmp_path)
    assert code == 1 and events[-1]["event"] == "error"
    assert f"At least {MIN_TRAINING_EXAMPLES} corrections" in events[-1]["message"]
    assert not [e for e in events if e["event"] == "phase"]
    assert time.monotonic() - started < 20 and leftovers(spec) == []


def test_a_bad_spec_is_a_clear_error(tmp_path: Path) -> None:
    spec = spec_dict(tmp_path)
    del spec["base_gguf"]
    code, events = run(spec, tmp_path)
    assert (code, events) == (1, [{"event": "error", "message": "spec.base_gguf is missing"}])


def test_an_existing_adapter_is_never_overwritten(tmp_path: Path) -> None:
    spec = spec_dict(tmp_path)
    output = Path(spec["output_dir"])
    output.mkdir(parents=True)
    (output / "adapter.gguf").write_bytes(b"keep me")
    code, events = run(spec, tmp_path)
    assert code == 1 and "already exists" in events[-1]["message"]
    assert (output / "adapter.gguf").read_bytes() == b"keep me"


@pytest.mark.slow
def test_a_missing_photo_is_named_and_nothing_is_left(tmp_path: Path) -> None:
    spec = spec_dict(tmp_path)
    missing = Path(spec["examples"][2]["images"][0])
    missing.unlink()
    code, events = run(spec, tmp_path)
    assert code == 1 and events[-1]["event"] == "error"
    assert f"example chelsea: the image {missing} is missing" == events[-1]["message"]
    assert leftovers(spec) == []


@pytest.mark.slow
def test_original_weights_download_with_progress_then_a_cancel_while_loading(
    tmp_path: Path,
) -> None:
    import huggingface_hub

    from tests.models.hub_server import StandInHub

    hf = fixture_pair("smolvlm")[0].parent / "hf"
    hub = StandInHub()
    hub.add_repo("HuggingFaceTB/Tiny-VLM", {p.name: p.read_bytes() for p in hf.iterdir()})
    hub.start()
    try:
        spec = spec_dict(tmp_path)
        spec["base_weights"] = {"repo": "HuggingFaceTB/Tiny-VLM", "revision": "main"}
        path = tmp_path / "spec.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, "-m", "models.finetune.run", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "CAPTIONIST_HF_ENDPOINT": hub.endpoint},
        )
        assert process.stdout is not None
        events = []
        for line in process.stdout:
            events.append(json.loads(line))
            if events[-1].get("phase") == "load":
                process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    finally:
        huggingface_hub.close_session()
        hub.stop()
    downloads = [e for e in events if e["event"] == "download"]
    total = sum(p.stat().st_size for p in hf.iterdir())
    assert downloads and downloads[-1] == {"event": "download", "done_bytes": total,
                                           "total_bytes": total}  # fmt: skip
    assert [d["done_bytes"] for d in downloads] == sorted(d["done_bytes"] for d in downloads)
    cached = Path(spec["cache_dir"]) / "HuggingFaceTB--Tiny-VLM" / "snapshots"
    assert (next(cached.iterdir()) / "model.safetensors").is_file()  # kept for next time
    assert code == 2 and events[-1] == {"event": "cancelled"} and leftovers(spec) == []
