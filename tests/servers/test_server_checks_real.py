"""The settings screen's and `captionist servers test`'s check, through the real client
against a real llama-server: a server added to the registry is probed and captions the
sample photo; a wrong key and a server that is gone are sentences naming the server."""

from __future__ import annotations

import pytest

from app.core.servers.checks import OK, UNHEALTHY, ClientChecks, check_server, sample_jpeg
from app.core.servers.registry import ServerRegistry
from app.core.settings import Settings
from app.core.storage.db import Database
from tests.servers.conftest import StartLlamaServer


def test_a_registered_llama_server_is_probed_and_captions_once(
    db: Database, llama_server: StartLlamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = llama_server(api_key="sekrit")
    registry = ServerRegistry(Settings(db))
    monkeypatch.setenv("GPU_KEY", "sekrit")
    entry = registry.add(server.url, name="gpu-box", key_env="GPU_KEY")

    report = check_server(entry, sample_jpeg(), ClientChecks())
    assert report.status == OK, report.error
    assert report.probe is not None and report.probe.kind == "llama-server"
    assert report.probe.slots == 2 and report.probe.vision is True
    assert report.caption and report.seconds is not None and report.seconds > 0
    assert "llama-server" in report.summary() and "2 slots" in report.summary()

    monkeypatch.setenv("GPU_KEY", "wrong")
    refused = check_server(entry, sample_jpeg(), ClientChecks())
    assert refused.status == UNHEALTHY and refused.error and "gpu-box" in refused.error

    server.stop()
    gone = check_server(entry, None, ClientChecks())
    assert gone.status == UNHEALTHY and gone.error and "gpu-box" in gone.error
