"""The window's worker process and a change of who captions (issue 13): the worker
runs as the app runs it (`captionist worker --forever` under the supervisor), waits
while the library is set to servers and has none, and when the user adds one the
bridge restarts it: the new worker captions on the real llama-server."""

from __future__ import annotations

import time
from pathlib import Path

from app.core.captioning.events import CaptionEvent, Crashed, Waiting
from app.core.captioning.supervisor import WorkerSupervisor
from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.servers.registry import ServerRegistry
from app.services.worker_bridge import RESTARTS_WORKER
from tests.core.test_worker import scan
from tests.core.test_worker_pool import SMALL_ANSWERS
from tests.media_factory import write_photo
from tests.servers.conftest import StartLlamaServer


def test_adding_a_server_restarts_the_waiting_worker_onto_it(
    library: Library, data_dir: DataDir, photo_dir: Path, llama_server: StartLlamaServer
) -> None:
    for name in ("astronaut", "coffee", "rocket"):
        write_photo(photo_dir / f"{name}.jpg", name, size=(96, 64))
    scan(library, photo_dir)
    for key, value in SMALL_ANSWERS.items():
        library.settings.set(key, value)
    library.settings.set("caption_backends", "servers")
    events: list[CaptionEvent] = []
    supervisor = WorkerSupervisor(data_dir.root, on_event=events.append, forever=True)
    supervisor.start()
    try:
        deadline = time.monotonic() + 60
        while not any(isinstance(e, Waiting) for e in events):
            assert time.monotonic() < deadline, events
            time.sleep(0.1)
        server = llama_server(parallel=2)
        ServerRegistry(library.settings).add(server.url, name="gpu-box")
        assert {"inference_servers"} <= RESTARTS_WORKER  # what the bridge restarts on
        supervisor.restart()
        deadline = time.monotonic() + 120
        while library.jobs.counts() != {"done": 3}:
            assert time.monotonic() < deadline, library.jobs.counts()
            time.sleep(0.2)
    finally:
        supervisor.stop()
    assert not any(isinstance(e, Crashed) for e in events)  # a restart, not a crash
    with library.db.read() as conn:
        servers = conn.exec_driver_sql("SELECT DISTINCT server FROM captions").scalars().all()
    assert servers == ["gpu-box"]
