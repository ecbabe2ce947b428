"""Original weights: downloaded from a stand-in hub (real HTTP on 127.0.0.1), cached, offline.

The stand-in serves the tiny SmolVLM checkpoint's real files next to what a real repo also
holds and training does not need (ONNX exports, a GGUF, a README).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import pytest

from models import transfer
from models.errors import DownloadCancelled
from models.finetune.base_weights import (
    COMPLETE_MARKER,
    BaseWeightsError,
    base_weights_dir,
    cached_snapshot,
)
from models.finetune.spec import BaseWeights
from tests.models.conftest import FIXTURES
from tests.models.hub_server import COMMIT, StandInHub

REPO = "HuggingFaceTB/Tiny-VLM"
HF = FIXTURES / "smolvlm" / "hf"
NEEDED = sorted(p.name for p in HF.iterdir())
EXTRAS = {"onnx/model.onnx": b"\0" * 5000, "model-Q8_0.gguf": b"GGUF" + b"\0" * 3000,
          "README.md": b"# tiny\n"}  # fmt: skip


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInHub]:
    monkeypatch.setattr(transfer, "RETRY_DELAYS", (0.05, 0.05, 0.05))
    server = StandInHub()
    server.add_repo(REPO, {**{n: (HF / n).read_bytes() for n in NEEDED}, **EXTRAS})
    server.start()
    yield server
    huggingface_hub.close_session()
    server.stop()


def fetch(tmp_path: Path, hub: StandInHub, cancel: threading.Event | None = None, **kw):  # type: ignore[no-untyped-def]
    reports: list[tuple[int, int | None]] = []
    path = base_weights_dir(
        BaseWeights(REPO, "main"),
        tmp_path / "cache",
        progress=lambda done, total: reports.append((done, total)),
        cancel=cancel or threading.Event(),
        endpoint=hub.endpoint,
        **kw,
    )
    return path, reports


def test_downloads_only_what_transformers_loads_with_progress(
    tmp_path: Path, hub: StandInHub
) -> None:
    path, reports = fetch(tmp_path, hub)
    assert path == tmp_path / "cache" / "HuggingFaceTB--Tiny-VLM" / "snapshots" / COMMIT
    assert sorted(p.name for p in path.iterdir()) == sorted([*NEEDED, COMPLETE_MARKER])
    for name in NEEDED:
        assert (path / name).read_bytes() == (HF / name).read_bytes()
    total = sum((HF / n).stat().st_size for n in NEEDED)
    done = [d for d, _ in reports]
    assert done == sorted(done) and done[-1] == total and {t for _, t in reports} == {total}
    assert not any("onnx" in r or "gguf" in r or "README" in r for r in hub.requests)


def test_a_cached_snapshot_needs_no_download_and_works_offline(
    tmp_path: Path, hub: StandInHub
) -> None:
    first, _ = fetch(tmp_path, hub)
    served = sum(hub.bytes_served.values())
    again, _ = fetch(tmp_path, hub)
    assert again == first and sum(hub.bytes_served.values()) == served
    hub.stop()
    huggingface_hub.close_session()
    offline = base_weights_dir(
        BaseWeights(REPO, "main"),
        tmp_path / "cache",
        progress=lambda *_: None,
        cancel=threading.Event(),
        endpoint=hub.endpoint,
    )
    assert offline == first == cached_snapshot(tmp_path / "cache", REPO, "main")


def test_cancel_stops_the_download_and_a_later_one_resumes(tmp_path: Path, hub: StandInHub) -> None:
    hub.bad.chunk_delay = 0.02
    cancel = threading.Event()

    def cancel_once_weights_flow() -> None:
        while hub.bytes_served["model.safetensors"] < 100_000:
            threading.Event().wait(0.01)
        cancel.set()

    threading.Thread(target=cancel_once_weights_flow, daemon=True).start()
    with pytest.raises(DownloadCancelled):
        fetch(tmp_path, hub, cancel)
    assert cached_snapshot(tmp_path / "cache", REPO, "main") is None
    hub.bad.chunk_delay = 0.0
    path, _ = fetch(tmp_path, hub)
    assert (path / "model.safetensors").read_bytes() == (HF / "model.safetensors").read_bytes()
    resumed = [r for name, r in hub.ranges if name == "model.safetensors" and r]
    assert resumed and int(resumed[0].removeprefix("bytes=").rstrip("-")) >= 100_000


def test_failures_are_explained(tmp_path: Path, hub: StandInHub) -> None:
    with pytest.raises(BaseWeightsError, match="was not found"):
        base_weights_dir(
            BaseWeights("nobody/nothing"),
            tmp_path / "cache",
            progress=lambda *_: None,
            cancel=threading.Event(),
            endpoint=hub.endpoint,
        )
    hub.add_repo("someone/gguf-only", {"model.gguf": b"GGUF", "config.json": b"{}"})
    with pytest.raises(BaseWeightsError, match="no safetensors weights"):
        base_weights_dir(
            BaseWeights("someone/gguf-only"),
            tmp_path / "cache",
            progress=lambda *_: None,
            cancel=threading.Event(),
            endpoint=hub.endpoint,
        )
    with pytest.raises(BaseWeightsError, match="fine-tuning is unavailable for it"):
        base_weights_dir(
            BaseWeights(None), tmp_path, progress=lambda *_: None, cancel=threading.Event()
        )


def test_a_local_checkpoint_is_used_as_is(tmp_path: Path) -> None:
    never = threading.Event()
    local = BaseWeights(None, local_dir=HF)
    assert base_weights_dir(local, tmp_path, progress=lambda *_: None, cancel=never) == HF
    with pytest.raises(BaseWeightsError, match="not a Hugging Face checkpoint"):
        base_weights_dir(
            BaseWeights(None, local_dir=tmp_path), tmp_path, progress=print, cancel=never
        )
