"""DownloadBridge against the local stand-in hub: signals, cancel, offline, one at a time."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from app.services.download_bridge import DownloadBridge
from models.download import ENDPOINT_ENV
from models.installed import has_partial_download, installed_models, read_installed
from tests.services.hub_support import (
    MMPROJ_BYTES,
    MODEL_BYTES,
    TOTAL_BYTES,
    catalog_entry,
    closed_endpoint,
    stand_in_hub,
)

ENTRY = catalog_entry("smolvlm2-256m")
OTHER = catalog_entry("smolvlm2-500m")


class Signals:
    """Everything a bridge emits, in order."""

    def __init__(self, bridge: DownloadBridge) -> None:
        self.progress: list[tuple[str, int, int, float, float | None]] = []
        self.endings: list[tuple[str, ...]] = []
        bridge.progress.connect(lambda *args: self.progress.append(args))
        bridge.finished.connect(lambda model_id: self.endings.append(("finished", model_id)))
        bridge.failed.connect(lambda model_id, msg: self.endings.append(("failed", model_id, msg)))
        bridge.cancelled.connect(lambda model_id: self.endings.append(("cancelled", model_id)))


def test_download_installs_the_model_with_throttled_progress(
    qtbot: QtBot, data_dir: DataDir, monkeypatch
) -> None:
    with stand_in_hub(monkeypatch, ENTRY) as hub:
        hub.bad.chunk_delay = 0.01  # long enough for several reports
        bridge = DownloadBridge(data_dir.models)
        seen = Signals(bridge)
        with qtbot.waitSignal(bridge.finished, timeout=30_000) as done:
            assert bridge.start(ENTRY.id)
            assert bridge.busy() and bridge.current() == ENTRY.id
        assert done.args == [ENTRY.id]
        assert bridge.wait(5)

    assert not bridge.busy() and bridge.current() is None
    installed = read_installed(ENTRY.id, data_dir.models)
    assert installed is not None
    assert installed.model_path.read_bytes() == MODEL_BYTES
    assert installed.mmproj_path.read_bytes() == MMPROJ_BYTES
    assert seen.endings == [("finished", ENTRY.id)]

    assert len(seen.progress) >= 2
    assert {p[0] for p in seen.progress} == {ENTRY.id}
    done_bytes = [p[1] for p in seen.progress]
    assert done_bytes == sorted(done_bytes) and done_bytes[-1] == TOTAL_BYTES
    assert {p[2] for p in seen.progress} == {TOTAL_BYTES}
    assert seen.progress[-1][4] == 0.0  # nothing left
    served_seconds = TOTAL_BYTES / (16 * 1024) * 0.01
    assert len(seen.progress) <= served_seconds * 10 + 5  # ~10 a second, not one per chunk


def test_byte_counts_past_2_gb_survive_the_signal(qtbot: QtBot, data_dir: DataDir) -> None:
    bridge = DownloadBridge(data_dir.models)
    got: list[tuple] = []
    bridge.progress.connect(lambda *args: got.append(args))
    bridge.progress.emit("qwen2.5-vl-7b", 3_000_000_000, 5_540_000_000, 1e6, 2540.0)
    assert got == [("qwen2.5-vl-7b", 3_000_000_000, 5_540_000_000, 1e6, 2540.0)]


def test_cancel_leaves_no_installed_model_and_the_next_start_resumes(
    qtbot: QtBot, data_dir: DataDir, monkeypatch
) -> None:
    with stand_in_hub(monkeypatch, ENTRY) as hub:
        hub.bad.chunk_delay = 0.05
        bridge = DownloadBridge(data_dir.models)
        seen = Signals(bridge)
        bridge.start(ENTRY.id)
        qtbot.waitUntil(lambda: any(p[1] > 0 for p in seen.progress), timeout=15_000)
        with qtbot.waitSignal(bridge.cancelled, timeout=10_000):
            bridge.cancel()
        assert bridge.wait(5) and not bridge.busy()
        assert installed_models(data_dir.models) == []
        assert has_partial_download(ENTRY.id, data_dir.models)
        assert seen.endings == [("cancelled", ENTRY.id)]

        hub.bad.chunk_delay = 0.0
        with qtbot.waitSignal(bridge.finished, timeout=30_000):
            bridge.start(ENTRY.id)
        assert hub.ranges[-2][1] is not None  # the model file resumed with a Range request
    assert [m.entry_id for m in installed_models(data_dir.models)] == [ENTRY.id]


def test_offline_fails_with_a_clear_message(qtbot: QtBot, data_dir: DataDir, monkeypatch) -> None:
    endpoint = closed_endpoint()
    monkeypatch.setenv(ENDPOINT_ENV, endpoint)
    bridge = DownloadBridge(data_dir.models)
    with qtbot.waitSignal(bridge.failed, timeout=30_000) as failed:
        bridge.start(ENTRY.id)
    model_id, message = failed.args
    assert model_id == ENTRY.id
    host = endpoint.removeprefix("http://")
    assert message == (
        f"Can't reach {host} — check your connection; the rest of Captionist keeps working."
    )
    assert bridge.wait(5) and not bridge.busy()
    assert installed_models(data_dir.models) == []


def test_one_download_at_a_time_and_unknown_ids_fail(
    qtbot: QtBot, data_dir: DataDir, monkeypatch
) -> None:
    with stand_in_hub(monkeypatch, ENTRY, OTHER) as hub:
        hub.bad.chunk_delay = 0.02
        bridge = DownloadBridge(data_dir.models)
        seen = Signals(bridge)
        assert bridge.start(ENTRY.id)
        assert not bridge.start(OTHER.id)
        assert seen.endings == [
            (
                "failed",
                OTHER.id,
                f"{ENTRY.id} is downloading. Wait for it to finish or cancel it first.",
            )
        ]
        qtbot.waitUntil(lambda: not bridge.busy(), timeout=30_000)
        assert read_installed(OTHER.id, data_dir.models) is None

        with qtbot.waitSignal(bridge.failed, timeout=5_000) as failed:
            bridge.start("no-such-model")
        assert failed.args == ["no-such-model", "'no-such-model' is not a model in the catalog."]
        assert bridge.wait(5)


def test_an_embedding_model_downloads_the_same_way_and_says_what_it_is(
    qtbot: QtBot, data_dir: DataDir, monkeypatch
) -> None:
    """Search by meaning's models go through the same bridge; `embedding_installed`
    follows `finished` for them only."""
    import huggingface_hub

    from models import transfer
    from models.embedding_catalog import load_embedding_catalog
    from models.installed import read_installed_embedding
    from tests.models.conftest import FIXTURES
    from tests.models.hub_server import StandInHub

    entry = load_embedding_catalog().get("bge-small-en-v1.5")
    assert entry is not None
    gguf = (FIXTURES / "embed_bert" / "model.gguf").read_bytes()
    monkeypatch.setattr(transfer, "RETRY_DELAYS", (0.05,))
    hub = StandInHub()
    hub.add_repo(entry.gguf_repo, {entry.model_file: gguf})
    hub.start()
    monkeypatch.setenv(ENDPOINT_ENV, hub.endpoint)
    try:
        bridge = DownloadBridge(data_dir.models)
        seen = Signals(bridge)
        kinds: list[str] = []
        bridge.embedding_installed.connect(kinds.append)
        with qtbot.waitSignal(bridge.embedding_installed, timeout=30_000):
            assert bridge.start(entry.id)
        assert bridge.wait(5)
    finally:
        huggingface_hub.close_session()
        hub.stop()
    assert seen.endings == [("finished", entry.id)] and kinds == [entry.id]
    assert seen.progress[-1][1] == len(gguf)
    installed = read_installed_embedding(entry.id, data_dir.models)
    assert installed is not None and installed.model_path.read_bytes() == gguf
    assert installed_models(data_dir.models) == []  # not a caption model
