"""The caption worker with inference servers (issue 13): the setting caption_backends
chooses the serial engine loop ("local", the default), the pool of servers, or both
(the engine one more member). Servers here are ScriptedBackends; the engine is real."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app.core.captioning.events import WorkerExit
from app.core.captioning.worker import NO_SERVERS, CaptionWorker
from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.settings import CaptionBackends
from tests.core.test_worker import as_line, scan
from tests.media_factory import write_photo
from tests.models.conftest import fixture_pair
from tests.pool_doubles import ScriptedBackend

SMALL_ANSWERS = {
    "max_caption_tokens": 8,
    "temperature": 0.0,
    "keyframes_per_video": 3,
    "model_image_side": 128,
}


@pytest.fixture
def captioning(library: Library) -> Library:
    model, mmproj = fixture_pair("smolvlm")
    library.settings.set("custom_model_path", str(model))
    library.settings.set("custom_mmproj_path", str(mmproj))
    for key, value in SMALL_ANSWERS.items():
        library.settings.set(key, value)
    return library


def made_by(library: Library) -> list[tuple[str, str | None]]:
    with library.db.read() as conn:
        return [
            (r[0], r[1])
            for r in conn.exec_driver_sql(
                "SELECT model_id, server FROM captions WHERE keyframe_id IS NULL ORDER BY item_id"
            )
        ]


def test_servers_mode_captions_through_the_pool_with_progress(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    for i in range(6):
        write_photo(photo_dir / f"p{i}.jpg", size=(48, 32))
    scan(library, photo_dir)
    library.settings.set("caption_backends", "servers")
    server = ScriptedBackend("gpu-box", delay=0.02)
    events: list[dict[str, Any]] = []

    code = CaptionWorker(data_dir, on_event=as_line(events), members=lambda: [server]).run()

    assert code == WorkerExit.DONE and library.jobs.counts() == {"done": 6}
    assert made_by(library) == [("scripted-model", "gpu-box")] * 6
    progress = [(e["done"], e["total"]) for e in events if e["event"] == "progress"]
    assert progress[-1] == (6, 6) and len(progress) == 6
    assert {e["server"] for e in events if e["event"] == "finished"} == {"gpu-box"}
    assert server.closed  # the worker owns the members it was given


def test_servers_mode_without_servers_waits_and_says_why(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    write_photo(photo_dir / "a.jpg", size=(48, 32))
    scan(library, photo_dir)
    events: list[dict[str, Any]] = []
    stop = threading.Event()
    worker = CaptionWorker(
        data_dir,
        on_event=as_line(events),
        forever=True,
        stop=stop,
        mode=CaptionBackends.SERVERS,
    )
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not any(e["event"] == "waiting" for e in list(events)):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert next(e for e in events if e["event"] == "waiting")["reason"] == NO_SERVERS
    assert library.jobs.counts() == {"queued": 1}


def test_both_puts_the_engine_in_the_pool_beside_the_servers(
    captioning: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "astronaut"):
        write_photo(photo_dir / f"{name}-{len(list(photo_dir.iterdir()))}.jpg", name)
    scan(captioning, photo_dir)
    captioning.settings.set("caption_backends", "both")
    server = ScriptedBackend("gpu-box", slots=1, delay=1.0)
    events: list[dict[str, Any]] = []

    code = CaptionWorker(data_dir, on_event=as_line(events), members=[server]).run()

    assert code == WorkerExit.DONE and captioning.jobs.counts() == {"done": 6}
    made = made_by(captioning)
    assert len(made) == 6
    assert ("custom:model", None) in made and ("scripted-model", "gpu-box") in made
    assert any(e["event"] == "model_loaded" for e in events)


def test_local_is_the_default_and_leaves_servers_alone(
    captioning: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    write_photo(photo_dir / "a.jpg")
    scan(captioning, photo_dir)
    server = ScriptedBackend("gpu-box")
    events: list[dict[str, Any]] = []

    code = CaptionWorker(data_dir, on_event=as_line(events), members=[server]).run()

    assert code == WorkerExit.DONE and captioning.jobs.counts() == {"done": 1}
    assert server.calls == [] and made_by(captioning) == [("custom:model", None)]
    assert not any(e["event"] in ("member_status", "waiting") for e in events)
