"""The caption worker with a real fine-tuned adapter (from the session's tiny training
run): provenance names the adapter, a change of adapter reloads the engine, and an
adapter llama.cpp cannot use is reported once while captions go on without it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from app.core.captioning.events import CaptionEvent, Finished, WorkerExit
from app.core.captioning.worker import CaptionWorker
from app.core.captions import CaptionStore
from app.core.datadir import DataDir
from app.core.finetune.adapters import AdapterRegistry
from app.core.jobs import JobQueue
from app.core.storage.db import Database
from tests.finetune_fixtures import MODEL_ID, TrainedLibrary, copy_trained_library


@pytest.fixture
def library_copy(trained_library: TrainedLibrary, tmp_path: Path) -> DataDir:
    return copy_trained_library(trained_library, tmp_path / "data")


def newest_model_caption(db: Database, item: int) -> Any:
    return next(c for c in CaptionStore(db).history(item) if c.source == "model")


def run_worker(data_dir: DataDir, **kwargs: Any) -> tuple[int, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = kwargs.pop("events", [])
    code = CaptionWorker(data_dir, on_event=lambda e: events.append(e.to_dict()), **kwargs).run()
    return code, events


def test_captions_record_the_active_adapter(
    trained_library: TrainedLibrary, library_copy: DataDir
) -> None:
    db = Database(library_copy.database)
    try:
        items = list(trained_library.items.values())
        # The library's model captions were stored the worker's way: each left a done job.
        done_before = JobQueue(db).counts().get("done", 0)
        JobQueue(db).enqueue(items)
        code, events = run_worker(library_copy)
        assert code == WorkerExit.DONE
        assert JobQueue(db).counts() == {"done": done_before + len(items)}
        (loaded,) = [e for e in events if e["event"] == "model_loaded"]
        assert (loaded["model"], loaded["adapter"]) == (MODEL_ID, trained_library.adapter_id)
        with_adapter = []
        for item in items:
            made = newest_model_caption(db, item)
            assert (made.model_id, made.adapter_id) == (MODEL_ID, trained_library.adapter_id)
            assert CaptionStore(db).current(item).source == "user"  # corrections stay
            with_adapter.append(made.text)

        # Deactivated: the plain model again, and provenance says so.
        AdapterRegistry(db).deactivate(MODEL_ID)
        JobQueue(db).enqueue(items)
        code, events = run_worker(library_copy)
        assert code == WorkerExit.DONE
        assert [e["adapter"] for e in events if e["event"] == "model_loaded"] == [None]
        plain = [newest_model_caption(db, item) for item in items]
        assert all(c.adapter_id is None for c in plain)
        # The adapter was really applied, not just named: greedy captions changed.
        assert [c.text for c in plain] != with_adapter
    finally:
        db.close()


def test_activating_an_adapter_mid_run_reloads_the_engine(
    trained_library: TrainedLibrary, library_copy: DataDir
) -> None:
    db = Database(library_copy.database)
    try:
        registry = AdapterRegistry(db)
        registry.deactivate(MODEL_ID)
        first, second = list(trained_library.items.values())[:2]
        JobQueue(db).enqueue([first])
        JobQueue(db).enqueue([second])

        def on_event(event: CaptionEvent) -> None:
            if isinstance(event, Finished) and event.item == first:
                registry.activate(trained_library.adapter_id)

        code = CaptionWorker(library_copy, on_event=on_event).run()

        assert code == WorkerExit.DONE
        assert newest_model_caption(db, first).adapter_id is None
        assert newest_model_caption(db, second).adapter_id == trained_library.adapter_id
    finally:
        db.close()


def test_an_adapter_that_cannot_load_is_reported_and_captions_go_on(
    trained_library: TrainedLibrary, library_copy: DataDir
) -> None:
    db = Database(library_copy.database)
    try:
        registry = AdapterRegistry(db)
        good = registry.active_for(MODEL_ID)
        assert good is not None
        # A valid adapter activated, then its file damaged on disk (a bad copy, a disk
        # error): activation's check cannot catch that, the worker must.
        adapter_id, version = registry.new_id(MODEL_ID, adapters_dir=library_copy.adapters)
        gguf = library_copy.adapters / adapter_id / "adapter.gguf"
        gguf.parent.mkdir()
        shutil.copyfile(good.gguf_path, gguf)
        registry.register(
            adapter_id=adapter_id,
            version=version,
            model_id=MODEL_ID,
            gguf_path=gguf,
            base_gguf=Path(good.base_gguf),
            method="lora",
            settings={},
            corrections_used=4,
            heldout_count=1,
        )
        registry.activate(adapter_id)
        gguf.write_bytes(gguf.read_bytes()[:200])

        items = list(trained_library.items.values())[:3]
        done_before = JobQueue(db).counts().get("done", 0)  # the library's own captions
        JobQueue(db).enqueue(items)
        code, events = run_worker(library_copy)

        assert code == WorkerExit.DONE
        assert JobQueue(db).counts() == {"done": done_before + 3}
        (failed,) = [e for e in events if e["event"] == "adapter_failed"]  # once, not per job
        assert failed["adapter"] == adapter_id and adapter_id in failed["error"]
        assert [e["adapter"] for e in events if e["event"] == "model_loaded"] == [None]
        assert all(newest_model_caption(db, i).adapter_id is None for i in items)
    finally:
        db.close()
