"""The caption pool (issue 13) over named test doubles of servers (`ScriptedBackend`):
real files, real SQLite, the real queue; what is scripted is how each member answers
and fails. The pool over real inference (two in-process engines) is at the end."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.core.captioning.breaker import Breaker
from app.core.captioning.events import (
    AdapterFailed,
    CaptionEvent,
    Failed,
    Finished,
    MemberStatus,
    Started,
    Waiting,
    WorkerExit,
)
from app.core.captioning.events import Cancelled as CancelledEvent
from app.core.captioning.local_backend import THIS_COMPUTER, LocalBackend
from app.core.captioning.pool import CaptionPool
from app.core.datadir import DataDir
from app.core.jobs import PRIORITY_USER
from app.core.library.library import Library
from models.answer import AnswerError
from models.prompts import builtin_prompts
from models.runtime import CaptionEngine, EngineConfig
from models.servers.backend import CaptionBackend, ServerProblem
from tests.media_factory import write_photo, write_video
from tests.models.conftest import fixture_pair
from tests.pool_doubles import ScriptedBackend, server_error

FAST_BREAKER = dict(base_s=0.2, max_s=1.0)


def photos(library: Library, folder: Path, n: int) -> list[int]:
    for i in range(n):
        write_photo(folder / f"p{i:03}.jpg", size=(48, 32))
    root = library.add_root(folder)
    library.scan(root.id)
    with library.db.read() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT id FROM media_items ORDER BY name")]


def item_named(library: Library, name: str) -> int:
    with library.db.read() as conn:
        return int(
            conn.exec_driver_sql("SELECT id FROM media_items WHERE name = ?", (name,)).scalar_one()
        )


def make_pool(
    library: Library,
    data_dir: DataDir,
    members: Sequence[CaptionBackend],
    events: list[CaptionEvent],
    **kwargs: Any,
) -> CaptionPool:
    kwargs.setdefault("breaker", lambda: Breaker(**FAST_BREAKER))
    return CaptionPool(
        library.db,
        members,
        prompts=builtin_prompts(),
        thumbnails=data_dir.thumbnails,
        emit=events.append,
        stop=kwargs.pop("stop", threading.Event()),
        **kwargs,
    )


@contextmanager
def running(pool: CaptionPool) -> Iterator[list[int]]:
    """The pool on a thread; its exit code in the list once it returned."""
    code: list[int] = []
    thread = threading.Thread(target=lambda: code.append(pool.run()))
    thread.start()
    try:
        yield code
    except BaseException:
        pool.stop.set()  # the test failed: do not wait for a pool that cannot finish
        raise
    finally:
        thread.join(30)
        if thread.is_alive():
            pool.stop.set()
            thread.join(10)
            pytest.fail("the pool did not finish")


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def captions(library: Library) -> dict[int, list[tuple[str, str | None, str | None]]]:
    """item id -> [(text, server, adapter)] of its model captions."""
    found: dict[int, list[tuple[str, str | None, str | None]]] = {}
    with library.db.read() as conn:
        for item, text, server, adapter in conn.exec_driver_sql(
            "SELECT item_id, text, server, adapter_id FROM captions "
            "WHERE keyframe_id IS NULL ORDER BY id"
        ):
            found.setdefault(item, []).append((text, server, adapter))
    return found


def attempts(library: Library) -> set[int]:
    with library.db.read() as conn:
        return {r[0] for r in conn.exec_driver_sql("SELECT attempts FROM jobs")}


def of(events: list[CaptionEvent], kind: type[CaptionEvent]) -> list[Any]:
    return [e for e in list(events) if isinstance(e, kind)]


def test_two_members_of_two_slots_caption_every_job_exactly_once(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    items = photos(library, photo_dir, 16)
    a, b = ScriptedBackend("gpu-a", delay=0.1), ScriptedBackend("gpu-b", delay=0.1)
    events: list[CaptionEvent] = []

    code = make_pool(library, data_dir, [a, b], events).run()

    assert code == WorkerExit.DONE
    assert library.jobs.counts() == {"done": 16}
    made = captions(library)
    assert sorted(made) == items and all(len(c) == 1 for c in made.values())
    assert a.answered() + b.answered() == 16 and a.answered() >= 4 and b.answered() >= 4
    assert a.max_in_flight == 2 and b.max_in_flight == 2  # every slot was kept busy
    assert {c[0][1] for c in made.values()} == {"gpu-a", "gpu-b"}  # provenance: server
    assert {e.server for e in of(events, Finished)} == {"gpu-a", "gpu-b"}
    assert len(of(events, Started)) == 16 and attempts(library) == {1}
    assert {e.name for e in of(events, MemberStatus)} == {"gpu-a", "gpu-b"}


def test_caption_this_jumps_the_whole_pools_queue(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    items = photos(library, photo_dir, 20)
    a, b = ScriptedBackend("gpu-a", delay=0.15), ScriptedBackend("gpu-b", delay=0.15)
    events: list[CaptionEvent] = []
    with running(make_pool(library, data_dir, [a, b], events)):
        wait_for(lambda: of(events, Started))
        library.jobs.enqueue([items[-1]], priority=PRIORITY_USER)  # the last one queued
    order = [e.item for e in of(events, Finished)]
    assert len(order) == 20
    # Claimed only after the jobs already in hand (4 slots + 2 read ahead), then first.
    assert order.index(items[-1]) <= 7


def test_a_member_that_dies_mid_batch_hands_its_jobs_over_and_comes_back(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    photos(library, photo_dir, 40)
    a, b = ScriptedBackend("gpu-a", delay=0.05), ScriptedBackend("gpu-b", delay=0.2)
    events: list[CaptionEvent] = []
    with running(make_pool(library, data_dir, [a, b], events)) as code:
        wait_for(lambda: a.answered() >= 3)
        a.down = True
        wait_for(lambda: any(not e.healthy for e in of(events, MemberStatus)))
        answered_while_down = a.answered()
        time.sleep(0.5)  # two or three half-open probes fail meanwhile
        a.down = False
    assert code == [WorkerExit.DONE]
    assert library.jobs.counts() == {"done": 40}
    made = captions(library)
    assert len(made) == 40 and all(len(c) == 1 for c in made.values())
    assert attempts(library) == {1}  # a server's fault is not the photo's attempt
    down = [c for c in a.calls if c.outcome == ServerProblem.DOWN]
    assert 1 <= len(down) <= 6  # backed off: a probe now and then, not a storm
    assert a.answered() > answered_while_down  # the half-open probe closed it again
    statuses = [(e.healthy, e.reason) for e in of(events, MemberStatus) if e.name == "gpu-a"]
    sick = statuses.index((False, "gpu-a is down"))
    assert (True, None) in statuses[sick:]
    assert not of(events, Failed)


def test_a_members_other_requests_in_flight_go_back_when_it_trips(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    photos(library, photo_dir, 3)
    down = server_error("gpu-a", ServerProblem.DOWN)
    a = ScriptedBackend(
        "gpu-a",
        slots=2,
        delay=lambda n: 30.0 if n == 0 else 0.1,  # the first request would hang on
        script=lambda n: down if n == 1 else None,
    )
    b = ScriptedBackend("gpu-b", slots=1, delay=0.8)
    events: list[CaptionEvent] = []
    started = time.monotonic()

    assert make_pool(library, data_dir, [a, b], events).run() == WorkerExit.DONE

    assert time.monotonic() - started < 10
    hung = next(c for c in a.calls if c.number == 0)
    assert hung.outcome == "cancelled" and hung.ended - hung.started < 2
    assert library.jobs.counts() == {"done": 3} and attempts(library) == {1}
    made = captions(library)
    assert len(made) == 3 and all(len(c) == 1 for c in made.values())
    assert not of(events, CancelledEvent)  # handed over, not cancelled by the user


def test_busy_with_retry_after_is_honoured(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    photos(library, photo_dir, 3)
    busy = server_error("gpu-a", ServerProblem.BUSY, retry_after=0.6)
    a = ScriptedBackend("gpu-a", slots=1, delay=0.01, script=lambda n: busy if n == 0 else None)
    events: list[CaptionEvent] = []

    assert make_pool(library, data_dir, [a], events).run() == WorkerExit.DONE

    assert library.jobs.counts() == {"done": 3} and attempts(library) == {1}
    first, second = a.calls[0], a.calls[1]
    assert first.outcome == ServerProblem.BUSY
    assert second.started - first.ended >= 0.6
    assert any(
        isinstance(e, Waiting) and "gpu-a: busy" in e.reason for e in events
    )  # the user heard why nothing moved


def test_a_bad_answer_fails_that_item_naming_the_server(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    items = photos(library, photo_dir, 3)
    failures = {
        0: server_error("gpu-a", ServerProblem.BAD_ANSWER),
        1: AnswerError("the answer held no caption"),
    }
    a = ScriptedBackend("gpu-a", slots=1, delay=0.01, script=failures.get)
    events: list[CaptionEvent] = []

    assert make_pool(library, data_dir, [a], events).run() == WorkerExit.DONE

    assert library.jobs.counts() == {"failed": 2, "done": 1}
    # Which photo met which answer depends on which was decoded first.
    errors = {e.item: e.error for e in of(events, Failed)}
    assert sorted(errors.values()) == ["gpu-a: bad_answer", "gpu-a: the answer held no caption"]
    (captioned,) = captions(library)
    assert sorted([*errors, captioned]) == items
    with library.db.read() as conn:
        stored = conn.exec_driver_sql("SELECT item_id, last_error FROM jobs WHERE state='failed'")
        assert dict(stored.all()) == errors
    assert all(e.healthy for e in of(events, MemberStatus))  # the item's fault, not the server's


def test_a_photo_that_makes_every_server_fail_is_skipped_not_circled_for_ever(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    write_photo(photo_dir / "poison.jpg", size=(64, 40))  # the server answers 500 to it
    photos(library, photo_dir, 2)

    def fails_on_poison(jpeg: bytes) -> BaseException | None:
        with Image.open(io.BytesIO(jpeg)) as image:
            poison = image.size == (64, 40)
        return server_error("gpu-a", ServerProblem.FAILED) if poison else None

    a = ScriptedBackend("gpu-a", slots=1, delay=0.01, per_image=fails_on_poison)
    events: list[CaptionEvent] = []

    assert make_pool(library, data_dir, [a], events).run() == WorkerExit.DONE

    assert library.jobs.counts() == {"done": 2, "failed": 1}
    (failed,) = of(events, Failed)
    assert failed.error.startswith("gpu-a: failed (servers failed on this item 3 times")
    assert len(a.calls) == 5 and failed.item == item_named(library, "poison.jpg")


def test_a_job_cancelled_in_flight_stops_and_stores_nothing(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    (item,) = photos(library, photo_dir, 1)
    a = ScriptedBackend("gpu-a", slots=1, delay=20.0)
    events: list[CaptionEvent] = []
    started = time.monotonic()
    with running(make_pool(library, data_dir, [a], events)) as code:
        wait_for(lambda: of(events, Started))
        library.jobs.cancel([item])
    assert code == [WorkerExit.DONE] and time.monotonic() - started < 10
    assert [c.outcome for c in a.calls] == ["cancelled"]
    assert [e.item for e in of(events, CancelledEvent)] == [item]
    assert library.jobs.counts() == {"cancelled": 1} and captions(library) == {}


def test_stopping_returns_every_claimed_job_to_the_queue(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    photos(library, photo_dir, 12)
    a = ScriptedBackend("gpu-a", delay=0.3)
    events: list[CaptionEvent] = []
    pool = make_pool(library, data_dir, [a], events, forever=True)
    with running(pool):
        wait_for(lambda: a.answered() >= 2)
        pool.stop.set()
    counts = library.jobs.counts()
    assert set(counts) == {"done", "queued"} and sum(counts.values()) == 12
    assert counts["done"] == len(captions(library))
    with library.db.read() as conn:  # a released job's attempt is not counted
        tries = conn.exec_driver_sql("SELECT DISTINCT attempts FROM jobs WHERE state='queued'")
        assert {r[0] for r in tries} <= {0}


def test_with_no_healthy_member_captioning_waits_and_says_why(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    photos(library, photo_dir, 2)
    events: list[CaptionEvent] = []
    pool = make_pool(library, data_dir, [], events, waiting_reason="no servers are set up")
    with running(pool):
        wait_for(lambda: of(events, Waiting))
        pool.stop.set()
    assert of(events, Waiting)[0].reason == "no servers are set up"
    assert library.jobs.counts() == {"queued": 2}

    a = ScriptedBackend("gpu-a", delay=0.01)
    a.down = True
    events.clear()
    with running(make_pool(library, data_dir, [a], events)) as code:
        wait_for(lambda: of(events, Waiting))
        assert "gpu-a is down" in of(events, Waiting)[0].reason
        # Nothing held while it waits (between the half-open probes, each one job).
        wait_for(lambda: library.jobs.counts() == {"queued": 2})
        a.down = False
    assert code == [WorkerExit.DONE] and library.jobs.counts() == {"done": 2}


def test_an_adapter_missing_on_a_server_is_skipped_there_and_said(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    photos(library, photo_dir, 8)
    with library.db.write() as conn:
        conn.exec_driver_sql(
            """INSERT INTO adapters (id, model_id, version, created_at, gguf_path, base_gguf,
                   method, settings, corrections_used, heldout_count, active)
               VALUES ('mine-1', 'smolvlm', 1, 0, '/a.gguf', '/m.gguf', 'lora', '{}', 4, 1, 1)"""
        )
    a = ScriptedBackend("gpu-a", delay=0.05, adapters=["mine-1"])
    b = ScriptedBackend("gpu-b", delay=0.05)
    events: list[CaptionEvent] = []

    pool = make_pool(library, data_dir, [a, b], events, adapter_model="smolvlm")
    assert pool.run() == WorkerExit.DONE

    made = [c[0] for c in captions(library).values()]
    assert {(server, adapter) for _t, server, adapter in made} == {
        ("gpu-a", "mine-1"),
        ("gpu-b", None),
    }
    assert {c.adapter for c in a.calls} == {"mine-1"} and {c.adapter for c in b.calls} == {None}
    (said,) = of(events, AdapterFailed)
    assert said.adapter == "mine-1" and "gpu-b" in said.error


# -- real inference: two in-process engines as two members ------------------------------


@pytest.fixture
def two_engines() -> Iterator[list[LocalBackend]]:
    model, mmproj = fixture_pair("smolvlm")
    backends = [
        LocalBackend(
            CaptionEngine(EngineConfig(model, mmproj, model_id="smolvlm", n_ctx=4096, n_threads=1)),
            name=name,
        )
        for name in (THIS_COMPUTER, "second engine")
    ]
    yield backends
    for backend in backends:
        backend.close()


def test_two_real_engines_caption_photos_and_a_video_once_each(
    library: Library, data_dir: DataDir, photo_dir: Path, two_engines: list[LocalBackend]
) -> None:
    for key, value in {
        "max_caption_tokens": 8,
        "temperature": 0.0,
        "keyframes_per_video": 3,
        "model_image_side": 128,
    }.items():
        library.settings.set(key, value)
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        write_photo(photo_dir / f"{name}.jpg", name)
    write_video(photo_dir / "clip.avi", seconds=4.0, cuts=(2.0,))
    library.scan(library.add_root(photo_dir).id)
    events: list[CaptionEvent] = []

    assert make_pool(library, data_dir, two_engines, events).run() == WorkerExit.DONE

    assert library.jobs.counts() == {"done": 5}
    made = captions(library)
    assert len(made) == 5 and all(len(c) == 1 and c[0][0] for c in made.values())
    assert {c[0][1] for c in made.values()} == {None}  # made on this computer
    finished = of(events, Finished)
    assert len(finished) == 5 and any(e.frames for e in finished)  # the video's moments
    with library.db.read() as conn:
        moments = conn.exec_driver_sql(
            "SELECT count(*) FROM captions WHERE keyframe_id IS NOT NULL"
        ).scalar_one()
    assert moments >= 1
