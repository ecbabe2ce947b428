"""A text-embedding model downloads through the same machinery as a caption pair.

Against the stand-in hub (tests/models/hub_server.py), with the tiny BERT embedding fixture
served under the catalog's file name.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import pytest

from models import transfer
from models.download import (
    DownloadProgress,
    download_model,
    installed_embedding_models,
    installed_models,
    read_installed,
    read_installed_embedding,
    remove_model,
)
from models.embedding import TextEmbedder
from models.embedding_catalog import EmbeddingEntry, load_embedding_catalog
from models.installed import MANIFEST
from tests.models.conftest import FIXTURES
from tests.models.hub_server import StandInHub

GGUF_BYTES = (FIXTURES / "embed_bert" / "model.gguf").read_bytes()


@pytest.fixture
def entry() -> EmbeddingEntry:
    found = load_embedding_catalog().get("bge-small-en-v1.5")
    assert found is not None
    return found


@pytest.fixture
def hub(entry: EmbeddingEntry, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInHub]:
    monkeypatch.setattr(transfer, "RETRY_DELAYS", (0.05, 0.05, 0.05))
    server = StandInHub()
    server.add_repo(
        entry.gguf_repo,
        {
            entry.model_file: GGUF_BYTES,
            "bge-small-en-v1.5-f16.gguf": GGUF_BYTES[:500],
            "README.md": b"# stand-in\n",
        },
    )
    server.start()
    yield server
    huggingface_hub.close_session()
    server.stop()


def fetch(entry: EmbeddingEntry, models: Path, hub: StandInHub, reports: list | None = None):
    return download_model(
        entry,
        models,
        progress=(reports if reports is not None else []).append,
        cancel=threading.Event(),
        endpoint=hub.endpoint,
    )


def test_an_embedding_model_installs_as_one_verified_gguf(
    entry: EmbeddingEntry, hub: StandInHub, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    reports: list[DownloadProgress] = []
    installed = fetch(entry, models, hub, reports)

    assert installed.model_path == models / entry.id / entry.model_file
    assert installed.model_path.read_bytes() == GGUF_BYTES
    assert installed.size_bytes == len(GGUF_BYTES) and installed.paths == (installed.model_path,)
    assert reports[-1].done_bytes == reports[-1].total_bytes == len(GGUF_BYTES)
    assert {report.file_count for report in reports} == {1}
    assert hub.ranges == [(entry.model_file, None)]
    manifest = json.loads((models / entry.id / MANIFEST).read_text())
    assert manifest["kind"] == "embedding" and set(manifest["files"]) == {"model"}

    # Each kind's readers see only their own models.
    assert read_installed_embedding(entry.id, models) == installed
    assert read_installed(entry.id, models) is None and installed_models(models) == []
    assert [model.entry_id for model in installed_embedding_models(models)] == [entry.id]

    with TextEmbedder(installed.model_path, prompts=entry.prompts) as embedder:
        assert embedder.embed_query("dog").shape == (embedder.dimension,)


def test_installed_returns_without_the_network_resumes_and_removes(
    entry: EmbeddingEntry, hub: StandInHub, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    hub.bad.drop_after[entry.model_file] = 100_000  # the connection drops mid-file
    installed = fetch(entry, models, hub)
    assert (entry.model_file, "bytes=100000-") in hub.ranges
    assert hub.bytes_served[entry.model_file] == len(GGUF_BYTES)  # nothing twice

    requests = len(hub.requests)
    reports: list[DownloadProgress] = []
    assert fetch(entry, models, hub, reports) == installed
    assert len(hub.requests) == requests and reports[-1].file_name == entry.model_file

    assert remove_model(entry.id, models)
    assert read_installed_embedding(entry.id, models) is None


def test_a_caption_manifest_is_not_an_embedding_model(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "old"
    folder.mkdir(parents=True)
    (folder / "m.gguf").write_bytes(b"GGUF")
    (folder / "p.gguf").write_bytes(b"GGUF")
    record = {"name": "m.gguf", "size": 4}
    manifest = {  # as written before embedding models existed: no "kind"
        "format": 1,
        "repo": "a/b",
        "commit": "c",
        "files": {"model": record, "mmproj": {**record, "name": "p.gguf"}},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))
    assert read_installed("old", tmp_path / "models") is not None
    assert read_installed_embedding("old", tmp_path / "models") is None
    manifest["files"]["model"]["name"] = "../../escape.gguf"
    (folder / MANIFEST).write_text(json.dumps(manifest))
    assert read_installed("old", tmp_path / "models") is None
