"""`captionist models list|download|remove`, downloads against the local stand-in hub.

app/cli/main.py wires `add_models_parser` in; here a parser is built the same way, so these tests
do not depend on that wiring. $CAPTIONIST_HF_ENDPOINT points the download at the stand-in.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator

import huggingface_hub
import pytest

from app.cli import models as cli_models
from app.cli.models import (
    ProgressPrinter,
    add_models_parser,
    format_progress,
    run_models_command,
)
from app.core.datadir import DataDir
from models import transfer
from models.catalog import load_catalog
from models.download import ENDPOINT_ENV, DownloadProgress
from models.embedding_catalog import load_embedding_catalog
from models.hardware import Hardware
from tests.models.conftest import FIXTURES, fixture_pair
from tests.models.hub_server import StandInHub

ENTRY = load_catalog().get("smolvlm2-256m")
EMBEDDER = load_embedding_catalog().get("bge-small-en-v1.5")
SMALL_PC = Hardware(ram_gb=2, physical_cores=2, gpu_offload=False)


def run(data_dir: DataDir, *argv: str) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="captionist", parents=[common])
    add_models_parser(parser.add_subparsers(dest="command"), common)
    return run_models_command(parser.parse_args(list(argv)), data_dir)


@pytest.fixture(autouse=True)
def small_pc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_models, "detect_hardware", lambda: SMALL_PC)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInHub]:
    model, mmproj = (path.read_bytes() for path in fixture_pair("smolvlm"))
    server = StandInHub()
    server.add_repo(ENTRY.gguf_repo, {ENTRY.model_file: model, ENTRY.mmproj_file: mmproj})
    embedder = (FIXTURES / "embed_bert" / "model.gguf").read_bytes()
    server.add_repo(EMBEDDER.gguf_repo, {EMBEDDER.model_file: embedder})
    server.start()
    monkeypatch.setenv(ENDPOINT_ENV, server.endpoint)
    monkeypatch.setattr(transfer, "RETRY_DELAYS", (0.05,))
    yield server
    huggingface_hub.close_session()
    server.stop()


def test_list_marks_the_default_and_what_does_not_fit(
    data_dir: DataDir, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(data_dir, "models", "list") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == [
        "ID",
        "KIND",
        "NAME",
        "SIZE",
        "RAM/VRAM",
        "VIDEO",
        "INSTALLED",
        "FITS",
    ]
    for entry in load_catalog():
        assert any(entry.id in line and " caption " in line for line in lines)
    for entry in load_embedding_catalog():
        assert any(entry.id in line and " embedding " in line for line in lines)
    default = next(line for line in lines if line.startswith("*"))
    assert default.split()[1] == "smolvlm2-256m" and "280 MB" in default and "1/0.8 GB" in default
    qwen = next(line for line in lines if "qwen2.5-vl-3b" in line)
    assert re.split(r"\s{2,}", qwen.strip())[-2:] == [
        "no",
        "no: needs ~5 GB RAM, this machine has 2 GB",
    ]
    assert "* default for this machine: SmolVLM2 256M Video — runs on the CPU (needs" in out
    embedder = next(line for line in lines if "embeddinggemma-300m" in line)
    assert embedder.startswith("*") and re.split(r"\s{2,}", embedder.strip())[-4:] == [
        "0.6 GB",
        "-",
        "no",
        "yes",
    ]
    assert "* default for search by meaning: EmbeddingGemma 300M" in out

    assert run(data_dir, "models", "list", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    defaults = {row["kind"]: row["id"] for row in rows if row["default"]}
    assert defaults == {"caption": "smolvlm2-256m", "embedding": "embeddinggemma-300m"}
    assert not any(row["installed"] for row in rows)
    gemma = next(row for row in rows if row["id"] == "embeddinggemma-300m")
    assert gemma["dimension"] == 768 and gemma["multilingual"] and "vram_gb" not in gemma


def test_download_list_remove_round_trip(
    data_dir: DataDir, hub: StandInHub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(data_dir, "models", "download", ENTRY.id) == 0
    out = capsys.readouterr().out
    assert "100%" in out and f"installed {ENTRY.name} in {data_dir.models / ENTRY.id}" in out
    assert "\r" not in out  # not a terminal: plain lines
    assert len(out.splitlines()) <= 13  # a line per ~10%, not per chunk

    run(data_dir, "models", "list", "--json")
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[ENTRY.id]["installed"] and not rows["smolvlm2-500m"]["installed"]

    assert run(data_dir, "models", "remove", ENTRY.id) == 0
    assert capsys.readouterr().out == f"removed {ENTRY.id}\n"
    assert not (data_dir.models / ENTRY.id).exists()
    assert run(data_dir, "models", "remove", ENTRY.id) == 1
    assert "is not installed" in capsys.readouterr().err
    assert run(data_dir, "models", "remove", "no-such-model") == 2
    assert run(data_dir, "models", "download", "no-such-model") == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_an_embedding_model_downloads_lists_and_removes(
    data_dir: DataDir, hub: StandInHub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(data_dir, "models", "download", EMBEDDER.id) == 0
    out = capsys.readouterr().out
    assert "[1/1]" in out and f"installed {EMBEDDER.name} in {data_dir.models / EMBEDDER.id}" in out

    run(data_dir, "models", "list", "--json")
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[EMBEDDER.id]["installed"] and rows[EMBEDDER.id]["kind"] == "embedding"
    assert not rows[ENTRY.id]["installed"]
    run(data_dir, "models", "list")
    line = next(line for line in capsys.readouterr().out.splitlines() if EMBEDDER.id in line)
    assert re.split(r"\s{2,}", line.strip())[-2:] == ["yes", "yes"]

    assert run(data_dir, "models", "remove", EMBEDDER.id) == 0
    assert not (data_dir.models / EMBEDDER.id).exists()
    assert run(data_dir, "models", "remove", EMBEDDER.id) == 1  # known, not installed


def test_ctrl_c_cancels_cleanly_and_the_next_download_resumes(
    data_dir: DataDir, hub: StandInHub, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.bad.chunk_delay = 0.05
    previous_handler = signal.getsignal(signal.SIGINT)

    def press_ctrl_c() -> None:
        while hub.bytes_served[ENTRY.model_file] < 50_000:
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    assert run(data_dir, "models", "download", ENTRY.id) == 130
    assert f"cancelled; run `captionist models download {ENTRY.id}` again to resume" in (
        capsys.readouterr().out
    )
    assert signal.getsignal(signal.SIGINT) is previous_handler

    run(data_dir, "models", "list", "--json")
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[ENTRY.id]["partial"] and not rows[ENTRY.id]["installed"]

    hub.bad.chunk_delay = 0.0
    assert run(data_dir, "models", "download", ENTRY.id) == 0
    assert hub.ranges[-2][1] is not None  # resumed with a Range request


def test_a_failed_download_exits_1_with_the_message(
    data_dir: DataDir, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(ENDPOINT_ENV, f"http://127.0.0.1:{port}")
    assert run(data_dir, "models", "download", ENTRY.id) == 1
    assert capsys.readouterr().err == (
        f"error: Can't reach 127.0.0.1:{port} — check your connection; "
        "the rest of Captionist keeps working.\n"
    )


def test_progress_updates_in_place_on_a_terminal() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(stream, is_tty=True)
    printer(DownloadProgress(0, 546_000_000, 0.0, None, "m.gguf", 1, 2))
    printer(DownloadProgress(546_000_000, 546_000_000, 4_200_000.0, 0.0, "mmproj.gguf", 2, 2))
    printer.end()
    text = stream.getvalue()
    assert text.startswith("\r0.0 MB / 546.0 MB   0%  --  ETA --:--  [1/2] m.gguf")
    assert "\r546.0 MB / 546.0 MB 100%  4.2 MB/s  ETA 0:00  [2/2] mmproj.gguf" in text
    assert text.endswith("\n") and text.count("\n") == 1
    eta = DownloadProgress(1, 2_500_000_000, 1e6, 3725.0, "x", 1, 2)
    assert "ETA 1:02:05" in format_progress(eta) and "2.50 GB" in format_progress(eta)
