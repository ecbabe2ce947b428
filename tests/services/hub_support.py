"""A running stand-in Hugging Face Hub with the tiny SmolVLM fixture pair, for GUI-side tests.

The same local server the model-layer download tests use (tests/models/hub_server.py), served
under a catalog entry's repo and file names, with $CAPTIONIST_HF_ENDPOINT pointing at it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import huggingface_hub
import pytest

from models import transfer
from models.catalog import CatalogEntry, load_catalog
from models.download import ENDPOINT_ENV
from tests.models.conftest import fixture_pair
from tests.models.hub_server import StandInHub

MODEL_BYTES, MMPROJ_BYTES = (path.read_bytes() for path in fixture_pair("smolvlm"))
TOTAL_BYTES = len(MODEL_BYTES) + len(MMPROJ_BYTES)


def catalog_entry(model_id: str) -> CatalogEntry:
    entry = load_catalog().get(model_id)
    assert entry is not None, model_id
    return entry


@contextmanager
def stand_in_hub(monkeypatch: pytest.MonkeyPatch, *entries: CatalogEntry) -> Iterator[StandInHub]:
    """Serve each entry's pair; downloads reach it through $CAPTIONIST_HF_ENDPOINT."""
    monkeypatch.setattr(transfer, "RETRY_DELAYS", (0.05,))
    server = StandInHub()
    for entry in entries:
        server.add_repo(
            entry.gguf_repo, {entry.model_file: MODEL_BYTES, entry.mmproj_file: MMPROJ_BYTES}
        )
    server.start()
    monkeypatch.setenv(ENDPOINT_ENV, server.endpoint)
    try:
        yield server
    finally:
        huggingface_hub.close_session()  # drop keep-alive connections to this server
        server.stop()


def closed_endpoint() -> str:
    """An address nothing listens on: what "offline" looks like to the download."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
