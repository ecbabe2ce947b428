"""Model downloads against a real local HTTP stand-in for the Hugging Face Hub.

No network: `StandInHub` (tests/models/hub_server.py) serves the tiny fixture GGUFs under the
names the catalog expects, and huggingface_hub 2.4.0 talks to it through `endpoint=`. Xet
needs no switching off: the download never uses hf_xet (plain HTTP GETs of /resolve URLs).
"""

from __future__ import annotations

import errno
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub.errors import OfflineModeIsEnabled

from models import download, transfer
from models.catalog import CatalogEntry, load_catalog
from models.download import (
    DownloadCancelled,
    DownloadError,
    DownloadProgress,
    download_model,
    installed_models,
    read_installed,
    remove_model,
)
from models.hub import explain
from models.installed import PARTIAL_DIR, lock
from models.transfer import ProgressMeter
from tests.models.conftest import fixture_pair
from tests.models.hub_server import StandInHub

MODEL_BYTES, MMPROJ_BYTES = (path.read_bytes() for path in fixture_pair("smolvlm"))
TOTAL = len(MODEL_BYTES) + len(MMPROJ_BYTES)


@pytest.fixture
def entry() -> CatalogEntry:
    found = load_catalog().get("smolvlm2-500m")
    assert found is not None
    return found


@pytest.fixture
def hub(entry: CatalogEntry, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInHub]:
    monkeypatch.setattr(transfer, "RETRY_DELAYS", (0.05, 0.05, 0.05))
    server = StandInHub()
    server.add_repo(
        entry.gguf_repo,
        {
            entry.model_file: MODEL_BYTES,
            entry.mmproj_file: MMPROJ_BYTES,
            "SmolVLM2-500M-Video-Instruct-f16.gguf": MODEL_BYTES[:1000],
            "README.md": b"# stand-in\n",
        },
    )
    server.start()
    yield server
    huggingface_hub.close_session()  # drop pooled keep-alive connections to this server
    server.stop()


class Recorder:
    def __init__(self) -> None:
        self.reports: list[DownloadProgress] = []
        self.times: list[float] = []

    def __call__(self, report: DownloadProgress) -> None:
        self.reports.append(report)
        self.times.append(time.monotonic())


def fetch(entry: CatalogEntry, tmp_path: Path, hub: StandInHub, cancel=None, progress=None):
    return download_model(
        entry,
        tmp_path / "models",
        progress=progress or Recorder(),
        cancel=cancel or threading.Event(),
        endpoint=hub.endpoint,
    )


def test_installs_the_pair_with_monotonic_throttled_progress(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path
) -> None:
    hub.bad.chunk_delay = 0.02  # ~0.5 s in all, so throttling and the rate are exercised
    recorder = Recorder()
    installed = fetch(entry, tmp_path, hub, progress=recorder)

    assert installed.model_path.read_bytes() == MODEL_BYTES
    assert installed.mmproj_path.read_bytes() == MMPROJ_BYTES
    assert installed.model_path == tmp_path / "models" / entry.id / entry.model_file
    assert installed.repo == entry.gguf_repo and installed.size_bytes == TOTAL
    assert not (installed.directory / PARTIAL_DIR).exists()
    assert [m.entry_id for m in installed_models(tmp_path / "models")] == [entry.id]
    assert installed.spec(entry).context_size == entry.context_size

    done = [r.done_bytes for r in recorder.reports]
    assert done == sorted(done) and done[-1] == TOTAL
    assert {r.total_bytes for r in recorder.reports} == {TOTAL}
    assert recorder.reports[-1].eta_seconds == 0.0
    assert any(r.bytes_per_second > 0 for r in recorder.reports)
    indexes = [r.file_index for r in recorder.reports]
    assert indexes == sorted(indexes) and indexes[-1] == 2
    gaps = [b - a for a, b in zip(recorder.times, recorder.times[1:], strict=False)]
    assert sum(gap < 0.09 for gap in gaps) <= 1  # ~10/s, the final forced report aside
    assert hub.ranges == [(entry.model_file, None), (entry.mmproj_file, None)]


def test_an_installed_model_returns_without_the_network(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path
) -> None:
    fetch(entry, tmp_path, hub)
    requests = len(hub.requests)
    hub.stop()
    recorder = Recorder()
    again = fetch(entry, tmp_path, hub, progress=recorder)
    assert again.model_path.is_file() and len(hub.requests) == requests
    assert recorder.reports[-1].done_bytes == recorder.reports[-1].total_bytes == TOTAL


def test_an_interrupted_download_resumes_with_only_the_rest(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path
) -> None:
    cut = 100_000
    hub.bad.drop_after[entry.model_file] = cut  # the connection drops mid-file...
    hub.bad.fail_with[entry.model_file] = [None, 503]  # ...and the retry finds the hub down
    with pytest.raises(DownloadError, match="HTTP 503.*resumes where it stopped"):
        fetch(entry, tmp_path, hub)
    assert read_installed(entry.id, tmp_path / "models") is None
    assert installed_models(tmp_path / "models") == []
    part = tmp_path / "models" / entry.id / PARTIAL_DIR / f"{sha256(MODEL_BYTES)}.part"
    assert part.stat().st_size == cut
    assert hub.bytes_served[entry.model_file] == cut

    installed = fetch(entry, tmp_path, hub)
    assert installed.model_path.read_bytes() == MODEL_BYTES
    assert hub.bytes_served[entry.model_file] == len(MODEL_BYTES)  # the rest, nothing twice
    assert hub.ranges[-2:] == [(entry.model_file, f"bytes={cut}-"), (entry.mmproj_file, None)]


def test_a_dropped_connection_resumes_within_the_same_call(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path
) -> None:
    hub.bad.drop_after[entry.mmproj_file] = 40_000
    installed = fetch(entry, tmp_path, hub)
    assert installed.mmproj_path.read_bytes() == MMPROJ_BYTES
    assert (entry.mmproj_file, "bytes=40000-") in hub.ranges
    assert hub.bytes_served[entry.mmproj_file] == len(MMPROJ_BYTES)


def test_a_server_that_ignores_the_range_restarts_the_file_cleanly(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path
) -> None:
    hub.bad.drop_after[entry.model_file] = 50_000
    hub.bad.ignore_range = True
    recorder = Recorder()
    installed = fetch(entry, tmp_path, hub, progress=recorder)
    assert installed.model_path.read_bytes() == MODEL_BYTES
    assert recorder.reports[-1].done_bytes == TOTAL
    assert (entry.model_file, "bytes=50000-") in hub.ranges  # asked to resume...
    assert hub.bytes_served[entry.model_file] == 50_000 + len(MODEL_BYTES)  # ...got it all


def test_cancel_returns_promptly_and_leaves_nothing_installed(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path
) -> None:
    hub.bad.chunk_delay = 0.05  # ~1 s for the model file: plenty of time to cancel in
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def cancel_once_bytes_flow() -> None:
        while hub.bytes_served[entry.model_file] < 50_000:
            time.sleep(0.005)
        cancelled_at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=cancel_once_bytes_flow, daemon=True).start()
    with pytest.raises(DownloadCancelled):
        fetch(entry, tmp_path, hub, cancel=cancel)
    assert time.monotonic() - cancelled_at[0] < 0.5
    folder = tmp_path / "models" / entry.id
    assert read_installed(entry.id, tmp_path / "models") is None
    assert not (folder / entry.model_file).exists() and not (folder / entry.mmproj_file).exists()
    kept = (folder / PARTIAL_DIR / f"{sha256(MODEL_BYTES)}.part").stat().st_size
    assert 0 < kept < len(MODEL_BYTES)

    hub.bad.chunk_delay = 0.0
    fetch(entry, tmp_path, hub)  # the next attempt resumes
    assert hub.ranges[-2] == (entry.model_file, f"bytes={kept}-")


def test_a_checksum_mismatch_is_refused_and_the_bad_file_deleted(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path
) -> None:
    hub.bad.wrong_sha256.add(entry.mmproj_file)
    with pytest.raises(DownloadError, match="integrity check.*deleted"):
        fetch(entry, tmp_path, hub)
    folder = tmp_path / "models" / entry.id
    assert read_installed(entry.id, tmp_path / "models") is None
    assert not (folder / entry.mmproj_file).exists() and not (folder / entry.model_file).exists()
    assert [p.name for p in (folder / PARTIAL_DIR).iterdir()] == [f"{sha256(MODEL_BYTES)}.part"]


def test_more_bytes_than_listed_are_refused(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path
) -> None:
    hub.bad.listed_short.add(entry.model_file)
    with pytest.raises(DownloadError, match="sent more than the .* bytes of .*deleted"):
        fetch(entry, tmp_path, hub)
    assert not list((tmp_path / "models" / entry.id / PARTIAL_DIR).iterdir())


def test_a_listing_without_lfs_metadata_is_verified_against_the_etag(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path
) -> None:
    hub.bad.no_lfs_info = True
    installed = fetch(entry, tmp_path, hub)
    assert installed.mmproj_path.read_bytes() == MMPROJ_BYTES
    assert any(r.startswith("HEAD ") and "/resolve/" in r for r in hub.requests)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, "File {file} was not found in repo {repo} on 127.0.0.1:"),
        (401, "{repo} on 127.0.0.1:{port} needs a Hugging Face login"),
        (500, "127.0.0.1:{port} is having trouble (HTTP 500); try again later."),
    ],
)
def test_http_errors_are_explained(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path, status: int, message: str
) -> None:
    hub.bad.fail_with[entry.mmproj_file] = [status]
    with pytest.raises(DownloadError) as raised:
        fetch(entry, tmp_path, hub)
    expected = message.format(file=entry.mmproj_file, repo=entry.gguf_repo, port=hub.port)
    assert str(raised.value).startswith(expected)


def test_a_missing_repo_or_unmatched_files_are_clear(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path
) -> None:
    hub.repos[entry.gguf_repo] = {"README.md": b"moved"}
    with pytest.raises(DownloadError, match=f"No model file like {entry.model_file} in repo"):
        fetch(entry, tmp_path, hub)
    del hub.repos[entry.gguf_repo]
    with pytest.raises(DownloadError, match=f"Model repo {entry.gguf_repo} was not found"):
        fetch(entry, tmp_path, hub)


def test_an_unreachable_hub_gives_the_offline_message(entry: CatalogEntry, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError) as raised:
        download_model(
            entry,
            tmp_path / "models",
            progress=Recorder(),
            cancel=threading.Event(),
            endpoint=f"http://127.0.0.1:{port}",
        )
    assert str(raised.value) == (
        f"Can't reach 127.0.0.1:{port} — check your connection; "
        "the rest of Captionist keeps working."
    )


def test_the_default_host_is_named_huggingface_co() -> None:
    import httpx2

    message = str(explain(httpx2.ConnectError("refused"), repo="x/y"))
    assert message.startswith("Can't reach huggingface.co — check your connection")
    disk_full = explain(OSError(errno.ENOSPC, "No space left"), repo="x/y", resumable=True)
    assert "disk is full" in str(disk_full) and "resumes" in str(disk_full)
    offline = explain(OfflineModeIsEnabled("HF_HUB_OFFLINE"), repo="x/y")
    assert str(offline).startswith("Downloads are switched off (HF_HUB_OFFLINE is set)")


def test_not_enough_disk_space_is_refused_before_downloading(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download.shutil, "disk_usage", lambda _path: _Usage(free=10_000))
    with pytest.raises(DownloadError, match="Not enough disk space for SmolVLM2 500M Video"):
        fetch(entry, tmp_path, hub)
    assert hub.ranges == []


def test_an_unwritable_models_folder_is_explained(entry: CatalogEntry, tmp_path: Path) -> None:
    (tmp_path / "models").write_text("a file where the folder should be")
    with pytest.raises(DownloadError, match="Can't write the model files"):
        download_model(entry, tmp_path / "models", progress=Recorder(), cancel=threading.Event())


def test_a_second_download_of_the_same_model_is_refused(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path
) -> None:
    with lock(tmp_path / "models" / entry.id), pytest.raises(DownloadError, match="already"):
        fetch(entry, tmp_path, hub)


def test_remove_model(entry: CatalogEntry, hub: StandInHub, tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    fetch(entry, tmp_path, hub)
    assert remove_model(entry.id, models_dir) is True
    assert not (models_dir / entry.id).exists() and installed_models(models_dir) == []
    assert remove_model(entry.id, models_dir) is False
    with pytest.raises(ValueError):
        remove_model("../outside", models_dir)


def test_the_meter_throttles_to_ten_reports_a_second_and_smooths_the_rate() -> None:
    now = [0.0]
    reports: list[DownloadProgress] = []
    meter = ProgressMeter(10_000_000, reports.append, file_count=2, clock=lambda: now[0])
    meter.start_file("model.gguf", 1)
    meter.advance(2_000_000, resumed=True)  # on disk from an earlier attempt
    for _ in range(2000):  # 2 s at 1 MB/s, in 1 ms steps
        now[0] += 0.001
        meter.advance(1000)
    assert 19 <= len(reports) <= 22
    meter.emit(force=True)  # download_model's final report
    last = reports[-1]
    assert last.done_bytes == 4_000_000 and last.fraction == 0.4
    assert last.bytes_per_second == pytest.approx(1_000_000, rel=0.02)  # resumed bytes excluded
    assert last.eta_seconds == pytest.approx(6.0, rel=0.02)


class _Usage:
    def __init__(self, free: int) -> None:
        self.free = free


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_downloaded_catalog_model_captions(
    entry: CatalogEntry, hub: StandInHub, tmp_path: Path
) -> None:
    """Download → the worker picks the installed model (settings: none chosen) → captions."""
    from app.core.captioning.events import WorkerExit
    from app.core.captioning.model_choice import choose_model
    from app.core.captioning.worker import CaptionWorker
    from app.core.datadir import DataDir
    from app.core.library.library import Library
    from app.core.storage.db import Database
    from tests.media_factory import write_photo

    data = DataDir.resolve(tmp_path / "data")
    download_model(
        entry, data.models, progress=Recorder(), cancel=threading.Event(), endpoint=hub.endpoint
    )
    library = Library(Database(data.database))
    library.settings.set("max_caption_tokens", 8)
    choice = choose_model(library.settings.read(), data.models)
    assert choice.model_id == entry.id and choice.n_ctx == entry.context_size
    write_photo(tmp_path / "photos" / "astronaut.jpg")
    library.scan(library.add_root(tmp_path / "photos").id)

    events: list[dict] = []
    code = CaptionWorker(data, on_event=lambda e: events.append(e.to_dict())).run()
    assert code == WorkerExit.DONE

    finished = [e for e in events if e["event"] == "finished"]
    assert len(finished) == 1 and finished[0]["caption"]
    with library.db.read() as conn:
        assert conn.exec_driver_sql("SELECT model_id FROM captions").scalar() == entry.id
    library.db.close()
