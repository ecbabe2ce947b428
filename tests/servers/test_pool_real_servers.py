"""The caption pool over real llama-servers on loopback (issue 13): two servers share
the queue, a fault-injecting proxy in front of one of them throws every fault class at
the pool, and a server killed mid-batch hands its work over. Each run ends with every
photo captioned exactly once, or with a per-item error that names the server."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from app.cli.main import main
from app.core.captioning.events import WorkerExit
from app.core.captioning.worker import CaptionWorker
from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.servers.members import ServerMember, members_factory
from app.core.servers.registry import ServerRegistry
from app.core.settings import CaptionBackends
from app.core.storage.db import Database
from tests.core.test_worker import as_line, scan
from tests.core.test_worker_pool import SMALL_ANSWERS
from tests.media_factory import write_photo
from tests.servers.conftest import StartLlamaServer
from tests.servers.fault_proxy import FaultProxy, wait_until

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field")


@pytest.fixture
def photos(library: Library, photo_dir: Path) -> Library:
    for i in range(2):
        for name in PHOTOS:
            write_photo(photo_dir / f"{name}-{i}.jpg", name, size=(96, 64))
    scan(library, photo_dir)
    for key, value in SMALL_ANSWERS.items():
        library.settings.set(key, value)
    library.settings.set("caption_backends", "servers")
    return library


def captions_per_item(library: Library) -> dict[int, list[str | None]]:
    with library.db.read() as conn:
        rows = conn.exec_driver_sql(
            """SELECT m.id, c.server FROM media_items m
               LEFT JOIN captions c ON c.item_id = m.id AND c.keyframe_id IS NULL"""
        ).all()
    made: dict[int, list[str | None]] = {}
    for item_id, server in rows:
        made.setdefault(item_id, [])
        if server is not None:
            made[item_id].append(server)
    return made


def failed_jobs(library: Library) -> list[str]:
    with library.db.read() as conn:
        return [
            r[0] for r in conn.exec_driver_sql("SELECT last_error FROM jobs WHERE state = 'failed'")
        ]


def register(library: Library, **urls: str) -> None:
    registry = ServerRegistry(library.settings)
    for name, url in urls.items():
        registry.add(url, name=name)


def run_worker(data_dir: DataDir, events: list[dict[str, Any]]) -> int:
    worker = CaptionWorker(data_dir, on_event=as_line(events), members=members_factory(data_dir))
    return worker.run()


def test_every_fault_class_ends_captioned_once_or_failed_with_the_server_named(
    photos: Library, data_dir: DataDir, llama_server: StartLlamaServer
) -> None:
    """One server behind the proxy, so every scripted fault reaches the pool: server
    faults back it off and its jobs wait for it; bad answers are retried once by the
    client, then fail that photo only."""
    server = llama_server(parallel=2)
    proxy = FaultProxy(server.url)
    faults = (
        "status:429:1", "reset", "truncate", "status:500", "delay:0.3",
        "off_schema", "invalid_json", "invalid_json",
    )  # fmt: skip
    try:
        register(photos, flaky=proxy.url)
        proxy.script(*faults)
        events: list[dict[str, Any]] = []
        assert run_worker(data_dir, events) == WorkerExit.DONE
    finally:
        proxy.close()
    made, failed = captions_per_item(photos), failed_jobs(photos)
    assert proxy.faults_applied == list(faults)
    assert all(len(servers) <= 1 for servers in made.values())  # never captioned twice
    assert sum(len(s) for s in made.values()) + len(failed) == len(made) == 12
    assert len(failed) <= 1 and all("flaky" in error for error in failed)  # two bad answers
    statuses = [e for e in events if e["event"] == "member_status"]
    assert any(not e["healthy"] for e in statuses) and statuses[-1]["healthy"]


def test_two_servers_share_the_queue(
    photos: Library, data_dir: DataDir, llama_server: StartLlamaServer
) -> None:
    one, two = llama_server(parallel=2), llama_server(parallel=2)
    register(photos, one=one.url, two=two.url)
    assert run_worker(data_dir, []) == WorkerExit.DONE
    made = captions_per_item(photos)
    assert all(len(servers) == 1 for servers in made.values())
    assert {servers[0] for servers in made.values()} == {"one", "two"}


def test_a_server_killed_mid_batch_hands_its_work_over(
    photos: Library, data_dir: DataDir, llama_server: StartLlamaServer
) -> None:
    steady, doomed = llama_server(parallel=1), llama_server(parallel=1)
    proxy = FaultProxy(doomed.url)
    try:
        register(photos, steady=steady.url, doomed=proxy.url)
        events: list[dict[str, Any]] = []
        killer = threading.Thread(
            target=lambda: wait_until(lambda: proxy.chat_requests >= 3) and proxy.kill()
        )
        killer.start()
        assert run_worker(data_dir, events) == WorkerExit.DONE
        killer.join()
    finally:
        proxy.close()
    made = captions_per_item(photos)
    assert failed_jobs(photos) == []
    assert all(len(servers) == 1 for servers in made.values())  # each exactly once
    assert "steady" in {s for servers in made.values() for s in servers}


def test_a_server_down_at_start_is_tried_again_not_dropped(
    photos: Library, data_dir: DataDir, llama_server: StartLlamaServer
) -> None:
    server = llama_server(parallel=1)
    proxy = FaultProxy(server.url)
    proxy.kill()  # nothing listens there yet
    member = ServerMember(ServerRegistry(photos.settings).add(proxy.url, name="late"))
    assert member.slots == 1 and member.name == "late"
    restarted = FaultProxy(server.url)  # the server came back at another address…
    try:
        member.entry = ServerRegistry(photos.settings).update("late", url=restarted.url)
        worker = CaptionWorker(data_dir, members=[member], mode=CaptionBackends.SERVERS)
        assert worker.run() == WorkerExit.DONE  # …and its first request probes it again
    finally:
        restarted.close()
    assert all(servers == ["late"] for servers in captions_per_item(photos).values())


def test_caption_with_a_one_off_server_from_the_command_line(
    data_dir: DataDir,
    photo_dir: Path,
    llama_server: StartLlamaServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    server = llama_server(parallel=2)
    photo = write_photo(photo_dir / "one.jpg", "coffee", size=(96, 64))
    code = main(
        ["--data-dir", str(data_dir.root), "caption", "--server", server.url, "--json", str(photo)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    (result,) = json.loads(out)
    assert result["caption"]
    db = Database(data_dir.database)
    try:
        with db.read() as conn:
            servers = conn.exec_driver_sql("SELECT server FROM captions").scalars().all()
    finally:
        db.close()
    host = server.url.removeprefix("http://")
    assert len(servers) == 1 and servers[0] is not None and host.split(":")[0] in servers[0]
