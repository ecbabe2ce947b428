"""The caption worker end to end: real files, real SQLite, real llama.cpp inference
with the tiny SmolVLM fixture, in-process (the process boundary is tested in
tests/test_cli_caption.py)."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.core.captioning.events import CaptionEvent, Started, WorkerExit
from app.core.captioning.job_settings import MediaOptions
from app.core.captioning.prepare import ModelInput, prepare_with
from app.core.captioning.store import Provenance, store_caption
from app.core.captioning.worker import CaptionWorker
from app.core.captions import CaptionStore
from app.core.datadir import DataDir
from app.core.jobs import PRIORITY_USER
from app.core.library.library import Library
from app.core.search import search
from models.answer import CaptionAnswer
from models.runtime import CaptionEngine
from tests.media_factory import write_photo, write_video
from tests.models.conftest import fixture_pair

SMALL_ANSWERS = {
    "max_caption_tokens": 8,
    "temperature": 0.0,
    "keyframes_per_video": 3,
    "model_image_side": 128,
}


@pytest.fixture
def captioning(library: Library, data_dir: DataDir, photo_dir: Path) -> Library:
    model, mmproj = fixture_pair("smolvlm")
    library.settings.set("custom_model_path", str(model))
    library.settings.set("custom_mmproj_path", str(mmproj))
    for key, value in SMALL_ANSWERS.items():
        library.settings.set(key, value)
    return library


def run_worker(data_dir: DataDir, **kwargs: Any) -> tuple[int, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    code = CaptionWorker(data_dir, on_event=as_line(events), **kwargs).run()
    return code, events


def as_line(events: list[dict[str, Any]]) -> Callable[[CaptionEvent], None]:
    """Record each event as the dict its JSON line decodes to (what the CLI prints)."""
    return lambda event: events.append(event.to_dict())


def scan(library: Library, folder: Path) -> None:
    root = library.add_root(folder)
    library.scan(root.id)


def item_id(library: Library, name: str) -> int:
    with library.db.read() as conn:
        return conn.exec_driver_sql(
            "SELECT id FROM media_items WHERE name = ?", (name,)
        ).scalar_one()


def test_photos_and_a_video_get_captions_tags_and_moments(
    captioning: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    write_photo(photo_dir / "astronaut.jpg")
    write_photo(photo_dir / "coffee.png", "coffee")
    write_video(photo_dir / "clip.avi", seconds=6.0, cuts=(2.0, 4.0))
    scan(captioning, photo_dir)

    code, events = run_worker(data_dir)

    assert code == WorkerExit.DONE
    assert captioning.jobs.counts() == {"done": 3}
    assert [e["event"] for e in events].count("finished") == 3
    progress = [e for e in events if e["event"] == "progress"]
    assert [(p["done"], p["total"]) for p in progress] == [(1, 3), (2, 3), (3, 3)]
    assert progress[0]["per_minute"] > 0 and progress[0]["eta_seconds"] > 0
    assert progress[-1]["eta_seconds"] == 0
    store = CaptionStore(captioning.db)
    for name in ("astronaut.jpg", "coffee.png", "clip.avi"):
        caption = store.current(item_id(captioning, name))
        assert caption is not None and caption.source == "model" and caption.text
        assert caption.model_id == "custom:model" and caption.prompt_id == "short"
    video = item_id(captioning, "clip.avi")
    with captioning.db.read() as conn:
        keyframes = conn.exec_driver_sql(
            "SELECT id, timestamp, thumbnail_path FROM keyframes WHERE item_id = ? "
            "ORDER BY timestamp",
            (video,),
        ).all()
    assert 1 <= len(keyframes) <= 3
    for keyframe_id, _timestamp, thumbnail in keyframes:
        assert Path(os.fsdecode(thumbnail)).is_file()
        assert store.current(video, keyframe_id) is not None  # a caption per moment
    # What the model wrote is searchable, moments with their timestamp.
    # Every moment is in the search index; one the user corrects is found at its time.
    with captioning.db.read() as conn:
        indexed = dict(
            conn.exec_driver_sql("SELECT -rowid, caption FROM search_index WHERE rowid < 0").all()
        )
    assert indexed == {k: store.current(video, k).text for k, _t, _p in keyframes}
    last_id, last_time, _ = keyframes[-1]
    store.add_user_caption(video, "a kite over the lake", keyframe_id=last_id)
    (hit,) = search(captioning.db, "kite")
    assert hit.item_id == video and hit.timestamp == last_time


def test_user_caption_is_never_replaced(
    captioning: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    write_photo(photo_dir / "astronaut.jpg")
    scan(captioning, photo_dir)
    photo = item_id(captioning, "astronaut.jpg")
    store = CaptionStore(captioning.db)
    store.add_user_caption(photo, "Commander Eileen, 1990")
    captioning.jobs.enqueue([photo])  # "Caption again" on an item the user captioned

    run_worker(data_dir)

    assert store.current(photo).text == "Commander Eileen, 1990"
    history = store.history(photo)
    assert [c.source for c in history][:2] == ["model", "user"]  # kept as a suggestion


def test_a_bad_file_fails_alone(captioning: Library, data_dir: DataDir, photo_dir: Path) -> None:
    write_photo(photo_dir / "good.jpg")
    bad = write_photo(photo_dir / "bad.jpg", "coffee")
    scan(captioning, photo_dir)
    bad.write_bytes(bad.read_bytes()[:300])  # truncated after it was indexed

    code, events = run_worker(data_dir)

    assert code == WorkerExit.DONE
    assert captioning.jobs.counts() == {"done": 1, "failed": 1}
    failure = next(e for e in events if e["event"] == "failed")
    assert failure["item"] == item_id(captioning, "bad.jpg")
    assert "truncat" in failure["error"] or "corrupt" in failure["error"]


def test_without_a_model_jobs_wait(library: Library, data_dir: DataDir, photo_dir: Path) -> None:
    write_photo(photo_dir / "a.jpg")
    scan(library, photo_dir)

    code, events = run_worker(data_dir)

    assert code == WorkerExit.NO_MODEL
    fatal = next(e for e in events if e["event"] == "fatal")
    assert "no captioning model is installed" in fatal["error"]
    assert library.jobs.counts() == {"queued": 1}  # released, not failed, not counted as a crash
    with library.db.read() as conn:
        assert conn.exec_driver_sql("SELECT attempts FROM jobs").scalar() == 0


def test_a_broken_model_is_reported_and_jobs_wait(
    captioning: Library, data_dir: DataDir, photo_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(fixture_pair("smolvlm")[0].read_bytes()[:100_000])
    captioning.settings.set("custom_model_path", str(broken))
    write_photo(photo_dir / "a.jpg")
    scan(captioning, photo_dir)

    code, events = run_worker(data_dir)

    assert code != WorkerExit.DONE
    assert any(e.get("reason") == "model_broken" for e in events)
    assert captioning.jobs.counts() == {"queued": 1}


def test_a_jobs_own_model_that_cannot_load_fails_those_jobs_once_and_the_queue_goes_on(
    captioning: Library, data_dir: DataDir, photo_dir: Path, tmp_path: Path
) -> None:
    """Issue 17: a job that asked for a model that cannot load ("Caption again with…",
    or an old CLI run's --model-path) used to stop the worker with "model_broken" and
    stay queued first, so every later worker stopped on it again. Now the model's
    error is that job's failure (the model is tried once), and the rest is captioned
    with the worker's own model."""
    not_a_model = write_photo(tmp_path / "horse.png")
    _, mmproj = fixture_pair("smolvlm")
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_photo(photo_dir / name)
    scan(captioning, photo_dir)
    wrong = {"model_override": {"model_path": str(not_a_model), "mmproj_path": str(mmproj)}}
    poisoned = [item_id(captioning, "a.jpg"), item_id(captioning, "b.jpg")]
    captioning.jobs.enqueue(poisoned, priority=PRIORITY_USER, params=wrong)

    code, events = run_worker(data_dir)

    assert code == WorkerExit.DONE
    assert captioning.jobs.counts() == {"failed": 2, "done": 1}
    failed = [e for e in events if e["event"] == "failed"]
    assert sorted(e["item"] for e in failed) == sorted(poisoned)
    assert all("not a GGUF model" in e["error"] for e in failed)
    assert not any(e["event"] == "fatal" for e in events)
    assert CaptionStore(captioning.db).current(item_id(captioning, "c.jpg")) is not None


@contextmanager
def background_worker(data_dir: DataDir) -> Iterator[list[dict[str, Any]]]:
    """A `--forever` worker on a thread, stopped (and checked gone) on exit."""
    stop = threading.Event()
    events: list[dict[str, Any]] = []
    worker = CaptionWorker(data_dir, on_event=as_line(events), forever=True, stop=stop)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        yield events
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_pause_holds_the_background_worker(
    captioning: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    write_photo(photo_dir / "a.jpg")
    scan(captioning, photo_dir)
    captioning.settings.set("queue_paused", True)
    with background_worker(data_dir) as events:
        _wait_for(lambda: any(e["event"] == "paused" for e in events))
        assert captioning.jobs.counts() == {"queued": 1}
        captioning.settings.set("queue_paused", False)
        _wait_for(lambda: captioning.jobs.counts() == {"done": 1}, timeout=60)


def test_cancel_stops_the_running_job_and_drops_its_result(
    captioning: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    captioning.settings.set("max_caption_tokens", 4000)  # long enough to cancel midway
    write_video(photo_dir / "long.avi", seconds=4.0, cuts=(1.0, 2.0, 3.0))
    scan(captioning, photo_dir)
    video = item_id(captioning, "long.avi")
    with background_worker(data_dir) as events:
        _wait_for(lambda: any(e["event"] == "started" for e in events))
        captioning.jobs.cancel([video])
        _wait_for(lambda: any(e["event"] == "cancelled" for e in events), timeout=30)
    assert captioning.jobs.counts() == {"cancelled": 1}
    assert CaptionStore(captioning.db).current(video) is None


def _wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# -- what the per-job shortcuts must not change -----------------------------------------
def test_a_video_captioned_again_keeps_its_moments(
    captioning: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    write_video(photo_dir / "clip.avi", seconds=6.0, cuts=(2.0, 4.0))
    scan(captioning, photo_dir)
    video = item_id(captioning, "clip.avi")
    run_worker(data_dir)
    with captioning.db.read() as conn:
        first = conn.exec_driver_sql(
            "SELECT id, timestamp FROM keyframes WHERE item_id = ? ORDER BY id", (video,)
        ).all()

    captioning.jobs.enqueue([video])  # "Caption again"
    code, events = run_worker(data_dir)

    assert code == WorkerExit.DONE and [e["event"] for e in events].count("finished") == 1
    with captioning.db.read() as conn:
        again = conn.exec_driver_sql(
            "SELECT id, timestamp FROM keyframes WHERE item_id = ? ORDER BY id", (video,)
        ).all()
    assert again == first and first  # the same moments, not a second set of rows
    store = CaptionStore(captioning.db)
    for keyframe_id, _timestamp in first:
        assert [c.source for c in store.history(video, keyframe_id)] == ["model", "model"]
    assert len(store.history(video)) == 2


def test_a_job_cancelled_while_the_model_answered_stores_nothing(
    captioning: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    write_photo(photo_dir / "a.jpg")
    scan(captioning, photo_dir)
    photo = item_id(captioning, "a.jpg")
    job = captioning.jobs.claim_next()
    assert job is not None
    captioning.jobs.cancel([photo])
    answer = CaptionAnswer(caption="a woman", tags=["portrait"], language="English")
    prepared = ModelInput(photo, 0, [])

    assert not store_caption(captioning.db, job.id, prepared, answer, Provenance("m", "short"))

    assert CaptionStore(captioning.db).current(photo) is None
    assert captioning.jobs.counts() == {"cancelled": 1}


def test_progress_totals_catch_up_with_jobs_queued_meanwhile(
    captioning: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_photo(photo_dir / name, "coffee")
    scan(captioning, photo_dir)
    late = item_id(captioning, "c.jpg")
    captioning.jobs.cancel([late])
    events: list[dict[str, Any]] = []

    def on_event(typed: CaptionEvent) -> None:
        event = typed.to_dict()
        events.append(event)
        if event["event"] == "progress" and event["done"] == 1:
            captioning.jobs.enqueue([late])  # the GUI queues one more while it works

    code = CaptionWorker(data_dir, on_event=on_event).run()

    assert code == WorkerExit.DONE
    progress = [(e["done"], e["total"]) for e in events if e["event"] == "progress"]
    assert [done for done, _ in progress] == [1, 2, 3]
    assert progress[0] == (1, 2) and progress[-1] == (3, 3)
    assert captioning.jobs.counts() == {"done": 3, "cancelled": 1}


def test_caption_command_prefetches_only_its_own_jobs(
    captioning: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    write_video(photo_dir / "background.avi", seconds=4.0, cuts=(2.0,))
    write_photo(photo_dir / "asked.jpg")
    scan(captioning, photo_dir)  # both queued at background priority
    asked, background = item_id(captioning, "asked.jpg"), item_id(captioning, "background.avi")
    captioning.jobs.enqueue([asked], priority=PRIORITY_USER)

    code, events = run_worker(data_dir, min_priority=PRIORITY_USER)

    assert code == WorkerExit.DONE
    assert [e["item"] for e in events if e["event"] == "finished"] == [asked]
    assert captioning.jobs.counts() == {"done": 1, "queued": 1}
    # Preparing a video writes its keyframe thumbnails: the background one was never
    # decoded for a worker that will not caption it.
    assert not (data_dir.thumbnails / "keyframes" / str(background)).exists()


def test_a_setting_changed_mid_run_applies_to_the_next_job_whole(
    captioning: Library, data_dir: DataDir, photo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a.jpg", "b.jpg"):
        write_photo(photo_dir / name, size=(400, 300))
    scan(captioning, photo_dir)
    first, second = item_id(captioning, "a.jpg"), item_id(captioning, "b.jpg")
    seen: dict[int, tuple[int, int]] = {}
    real_caption = CaptionEngine.caption

    def caption(engine: CaptionEngine, images: Any, *args: Any, **kwargs: Any) -> Any:
        with Image.open(io.BytesIO(images[0])) as im:
            seen[len(seen)] = im.size
        return real_caption(engine, images, *args, **kwargs)

    monkeypatch.setattr(CaptionEngine, "caption", caption)
    prepared_at: list[tuple[int, int]] = []  # (item, max_side) of every prepare

    def recording_prepare(
        options: MediaOptions, item: int, *args: Any, **kwargs: Any
    ) -> ModelInput:
        prepared_at.append((item, options.max_side))
        return prepare_with(options, item, *args, **kwargs)

    monkeypatch.setattr("app.core.captioning.worker.prepare_with", recording_prepare)

    def on_event(event: CaptionEvent) -> None:
        if isinstance(event, Started) and event.item == first:
            # While the first photo is captioned (and the second one is prefetched).
            captioning.settings.set("model_image_side", 96)

    code = CaptionWorker(data_dir, on_event=on_event).run()

    assert code == WorkerExit.DONE and captioning.jobs.counts() == {"done": 2}
    assert seen == {0: (128, 96), 1: (96, 72)}
    # The second photo was prefetched with the first job's settings, then made again.
    assert [side for item, side in prepared_at if item == second] == [128, 96]


def test_each_caption_is_written_to_the_files_metadata(
    captioning: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    """Real inference, then the sidecar (the default) and the embedded XMP (the other
    setting) carry the caption the worker stored; a file that cannot take it is a
    `metadata_failed` event and the caption is kept."""
    from app.core.metadata.xmp import read as read_xmp
    from app.core.metadata.xmp import sidecar_path

    sidecar_photo = write_photo(photo_dir / "sidecar.jpg")
    blocked = write_photo(photo_dir / "blocked.jpg", "rocket")
    scan(captioning, photo_dir)
    sidecar_path(blocked).mkdir()  # not a file in the sidecar's place
    code, events = run_worker(data_dir)
    assert code == WorkerExit.DONE
    store = CaptionStore(captioning.db)
    stored = store.current(item_id(captioning, "sidecar.jpg"))
    written = read_xmp(sidecar_photo)
    assert stored is not None and written is not None
    assert (written.text, list(written.tags), written.source) == (stored.text, stored.tags, "ai")
    (failure,) = [e for e in events if e["event"] == "metadata_failed"]
    assert failure["item"] == item_id(captioning, "blocked.jpg")
    assert failure["error"].startswith("blocked.jpg: could not write")
    assert store.current(failure["item"]) is not None

    captioning.settings.set("metadata_write", "embed")
    embedded = write_photo(photo_dir / "embedded.png", "coffee")
    scan(captioning, photo_dir)
    run_worker(data_dir)
    inside = read_xmp(embedded)
    caption = store.current(item_id(captioning, "embedded.png"))
    assert inside is not None and caption is not None and inside.text == caption.text
    assert not sidecar_path(embedded).exists()


def test_a_file_the_engine_crashed_on_twice_is_tried_in_safe_mode(
    captioning: Library, data_dir: DataDir, photo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("crashy.jpg", "fine.jpg"):
        write_photo(photo_dir / name, size=(400, 300))
    scan(captioning, photo_dir)
    crashy, fine = item_id(captioning, "crashy.jpg"), item_id(captioning, "fine.jpg")
    for _ in range(2):  # two workers died while captioning it
        claimed = captioning.jobs.claim_next()
        assert claimed is not None and claimed.item_id == crashy
        captioning.jobs.recover_interrupted()
    used: dict[int, Any] = {}
    real_caption = CaptionEngine.caption

    def caption(engine: CaptionEngine, images: Any, *args: Any, **kwargs: Any) -> Any:
        used[len(used)] = kwargs["sampling"]
        return real_caption(engine, images, *args, **kwargs)

    monkeypatch.setattr(CaptionEngine, "caption", caption)
    monkeypatch.delenv("GGML_NO_BACKTRACE", raising=False)

    code, _events = run_worker(data_dir)

    assert code == WorkerExit.DONE and captioning.jobs.counts() == {"done": 2}
    safe, usual = used[0], used[1]  # the crashed job is the oldest: it goes first
    assert not safe.string_budget and safe.temperature == 0.0
    assert usual.string_budget
    assert CaptionStore(captioning.db).current(crashy) is not None
    assert CaptionStore(captioning.db).current(fine) is not None
    assert os.environ["GGML_NO_BACKTRACE"] == "1"  # no gdb backtrace on a native abort
