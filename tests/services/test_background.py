"""The background pool: results and errors arrive on the GUI thread, and nothing of a
finished task stays behind."""

from __future__ import annotations

import gc
import logging
import threading

import pytest

from app.services import background
from app.services.background import Background

pytestmark = pytest.mark.timeout(60)


class Payload:
    """Something a task's closure holds: it must go when the task is done."""


def alive(kind: type) -> int:
    gc.collect()
    return sum(isinstance(o, kind) for o in gc.get_objects())


def test_results_and_errors_arrive_on_the_gui_thread(qtbot):
    pool = Background()
    got: list[tuple[str, object, bool]] = []
    main = threading.get_ident()

    def fail() -> None:
        raise ValueError("broken")

    pool.run(lambda: 42, lambda r: got.append(("done", r, threading.get_ident() == main)))
    pool.run(fail, None, lambda m: got.append(("error", m, threading.get_ident() == main)))
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5_000)
    assert sorted(got) == [("done", 42, True), ("error", "broken", True)]
    assert pool.wait()


def test_finished_tasks_leave_nothing_behind(qtbot, caplog):
    """Each task's relay used to stay alive (its connections held lambdas holding it, a
    cycle through C++ the collector cannot see), and with it every closure and argument:
    the gallery starts one task per batch of rows while scrolling."""
    # pytest keeps log records, and a failure's record holds its traceback's frames
    caplog.set_level(logging.CRITICAL, logger=background.__name__)
    pool = Background()
    before_relays, before_payloads = alive(background._Relay), alive(Payload)
    done: list[object] = []
    for n in range(300):
        payload = Payload()
        if n % 3:
            pool.run(lambda p=payload: p, done.append, done.append)
        else:
            pool.run(lambda: 1 / 0, done.append, lambda m, p=payload: done.append(p))
    del payload
    qtbot.waitUntil(lambda: len(done) == 300, timeout=20_000)
    done.clear()
    qtbot.wait(20)
    assert alive(background._Relay) == before_relays
    assert alive(Payload) == before_payloads
    assert pool.wait()
