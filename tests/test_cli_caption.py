"""Captioning across the process boundary: the `caption` and `worker` commands, and
what a killed worker process leaves behind (real kill -9, real llama.cpp)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app.core.captioning.events import CaptionEvent, Started
from app.core.captioning.supervisor import WorkerSupervisor
from app.core.captions import CaptionStore
from app.core.datadir import DataDir
from app.core.jobs import CRASHED_REPEATEDLY
from app.core.library.library import Library
from app.core.storage.db import Database
from tests.media_factory import REAL_PHOTOS, write_photo, write_video
from tests.models.conftest import fixture_pair

ROOT = Path(__file__).resolve().parents[1]
MODEL, MMPROJ = fixture_pair("smolvlm")
FAST = {
    "max_caption_tokens": 8,
    "temperature": 0.0,
    "keyframes_per_video": 3,
    "model_image_side": 128,
}


def cli(data: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", "--data-dir", str(data), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def configure(data: Path) -> Library:
    library = Library(Database(DataDir.resolve(data).database))
    for key, value in FAST.items():
        library.settings.set(key, value)
    return library


def test_caption_command_json_contract(tmp_path: Path) -> None:
    data = tmp_path / "data"
    configure(data).db.close()
    photo = write_photo(tmp_path / "in" / "astronaut.jpg")
    video = write_video(tmp_path / "in" / "clip.avi", seconds=4.0, cuts=(2.0,))
    bogus = tmp_path / "in" / "notes.jpg"
    bogus.write_text("not a photo")

    run = cli(
        data,
        "caption",
        str(photo),
        str(video),
        str(bogus),
        str(tmp_path / "nope.jpg"),
        "--model-path",
        str(MODEL),
        "--mmproj",
        str(MMPROJ),
        "--json",
    )

    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert [Path(r["path"]).name for r in results] == [
        "astronaut.jpg",
        "clip.avi",
        "notes.jpg",
        "nope.jpg",
    ]
    good, clip, bad, missing = results
    for r in (good, clip):
        assert r["error"] is None and r["caption"] and isinstance(r["tags"], list)
        assert r["model"] == "custom:model"
    assert clip["moments"] and all({"timestamp", "caption"} <= m.keys() for m in clip["moments"])
    assert [m["timestamp"] for m in clip["moments"]] == sorted(
        m["timestamp"] for m in clip["moments"]
    )
    assert "moments" not in good
    assert "not an image" in bad["error"] and bad["caption"] is None
    assert missing["error"] == "no such file"


def test_caption_command_refuses_without_a_model(tmp_path: Path) -> None:
    photo = write_photo(tmp_path / "a.jpg")
    run = cli(tmp_path / "data", "caption", str(photo))
    assert run.returncode == 3
    assert "no captioning model is installed" in run.stderr
    run = cli(tmp_path / "data", "caption", str(photo), "--model-path", str(MODEL))
    assert run.returncode == 2 and "--mmproj" in run.stderr


def _library_of(tmp_path: Path, photos: int) -> tuple[Path, Library]:
    data = tmp_path / "data"
    library = configure(data)
    library.settings.set("custom_model_path", str(MODEL))
    library.settings.set("custom_mmproj_path", str(MMPROJ))
    folder = tmp_path / "photos"
    for i in range(photos):
        write_photo(folder / f"p{i:02d}.jpg", REAL_PHOTOS[i % len(REAL_PHOTOS)], size=(96 + i, 96))
    library.scan(library.add_root(folder).id)
    return data, library


def _model_captions_per_item(library: Library) -> dict[int, int]:
    with library.db.read() as conn:
        return dict(
            conn.exec_driver_sql(
                "SELECT m.id, count(c.id) FROM media_items m LEFT JOIN captions c "
                "ON c.item_id = m.id AND c.source = 'model' GROUP BY m.id"
            ).all()
        )


def test_kill_9_mid_batch_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    data, library = _library_of(tmp_path, 8)
    worker = subprocess.Popen(
        [sys.executable, "main.py", "--data-dir", str(data), "worker"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    finished = 0
    assert worker.stdout is not None
    for line in worker.stdout:
        finished += json.loads(line)["event"] == "finished"
        if finished == 3:
            worker.send_signal(signal.SIGKILL)
            break
    worker.wait(30)
    assert worker.returncode == -signal.SIGKILL
    counts = library.jobs.counts()
    assert counts["done"] >= 3 and counts.get("running", 0) <= 1

    rerun = cli(data, "worker")

    assert rerun.returncode == 0, rerun.stderr
    assert library.jobs.counts() == {"done": 8}
    assert set(_model_captions_per_item(library).values()) == {1}  # one caption each, no dupes


def test_a_file_that_kills_the_worker_three_times_is_skipped(tmp_path: Path) -> None:
    """The supervisor restarts the dead worker; the file it died on twice gets one more
    try in safe mode, and dying then too it is failed with the reason; every other file
    is captioned."""
    data, library = _library_of(tmp_path, 4)
    with library.db.read() as conn:
        poison = conn.exec_driver_sql(
            "SELECT id FROM media_items WHERE name = 'p02.jpg'"
        ).scalar_one()
    events: list[dict[str, Any]] = []
    supervisor: WorkerSupervisor

    def on_event(typed: CaptionEvent) -> None:
        event = typed.to_dict()
        events.append(event)
        if event["event"] == "started" and event["item"] == poison:
            os.kill(supervisor.pid, signal.SIGKILL)  # as a native crash in llama.cpp would

    supervisor = WorkerSupervisor(data, on_event=on_event, forever=True, backoff=(0.1,))
    supervisor.start()
    try:
        deadline = time.monotonic() + 240
        while library.jobs.counts() != {"done": 3, "failed": 1}:
            assert time.monotonic() < deadline, library.jobs.counts()
            time.sleep(0.2)
    finally:
        supervisor.stop()
    assert supervisor.crashes == 3
    with library.db.read() as conn:
        reason = conn.exec_driver_sql(
            "SELECT last_error FROM jobs WHERE item_id = ?", (poison,)
        ).scalar_one()
    assert reason == CRASHED_REPEATEDLY
    assert CaptionStore(library.db).current(poison) is None
    assert [e["event"] for e in events].count("crashed") == 3


def test_stopping_the_supervised_worker_requeues_its_job(tmp_path: Path) -> None:
    data, library = _library_of(tmp_path, 1)
    library.settings.set("max_caption_tokens", 4000)  # keep it busy
    started = threading.Event()
    supervisor = WorkerSupervisor(
        data, on_event=lambda e: isinstance(e, Started) and started.set(), forever=True
    )
    supervisor.start()
    assert started.wait(60)
    supervisor.stop(timeout=60)  # generous: a loaded CI machine is slow, not wrong
    assert not supervisor.running
    with library.db.read() as conn:
        state, attempts = conn.exec_driver_sql("SELECT state, attempts FROM jobs").one()
    assert (state, attempts) == ("queued", 0)  # a deliberate stop is not a crash


def _jobs(library: Library) -> list[tuple[str, int, str | None]]:
    with library.db.read() as conn:
        return [
            (state, priority, params)
            for state, priority, params in conn.exec_driver_sql(
                "SELECT state, priority, params FROM jobs ORDER BY id"
            )
        ]


def test_a_model_path_typo_does_not_poison_the_queue(tmp_path: Path) -> None:
    """Issue 17: `caption --model-path horse.png` left its job queued first with the
    bad model attached; every later `caption` (other files, the right model) failed
    with the old "not a GGUF model: …/horse.png". The override belongs to that run:
    it fails once, with the model's error, and leaves nothing of itself queued."""
    data = tmp_path / "data"
    library = configure(data)
    horse = write_photo(tmp_path / "in" / "horse.png")
    first = write_photo(tmp_path / "in" / "first.jpg")
    later = write_photo(tmp_path / "elsewhere" / "later.jpg", "coffee")

    typo = cli(data, "caption", str(first), "--model-path", str(horse), "--mmproj", str(MMPROJ))

    assert typo.returncode == 3
    assert "not a GGUF model" in typo.stderr and "horse.png" in typo.stderr
    assert "Traceback" not in typo.stderr
    assert all(params is None or "horse" not in params for _, _, params in _jobs(library))
    assert all(priority < 100 for state, priority, _ in _jobs(library) if state == "queued")

    right = cli(data, "caption", str(later), "--model-path", str(MODEL), "--mmproj", str(MMPROJ))

    assert right.returncode == 0, right.stderr
    assert "horse" not in right.stderr + right.stdout
    assert right.stdout.startswith(str(later))
    assert "error" not in right.stdout
    library.db.close()


def test_a_worker_whose_model_cannot_load_waits_instead_of_restarting(tmp_path: Path) -> None:
    """A model that cannot load fails the same way on every restart: the supervisor
    reports it once and waits (for a nudge: a model chosen or installed)."""
    data, library = _library_of(tmp_path, 1)
    not_a_model = write_photo(tmp_path / "horse.png")
    library.settings.set("custom_model_path", str(not_a_model))
    events: list[CaptionEvent] = []
    supervisor = WorkerSupervisor(data, on_event=events.append, forever=True, backoff=(0.1,))
    supervisor.start()
    try:
        deadline = time.monotonic() + 60
        while not any(e.to_dict()["event"] == "fatal" for e in events):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(5)  # restarts came every 0.1 s
    finally:
        supervisor.stop()
    names = [e.to_dict()["event"] for e in events]
    assert names.count("fatal") == 1 and "crashed" not in names
    assert supervisor.crashes == 0
    assert library.jobs.counts() == {"queued": 1}


@pytest.fixture(autouse=True)
def _fresh_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAPTIONIST_DATA_DIR", raising=False)
