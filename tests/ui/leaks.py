"""Finding what a GUI test left running: Python threads and active Qt timers.

napari's test suite fails a test that leaves a thread or a timer behind, because the next
test then runs against a live leftover (a timer firing into a closed window, a thread still
writing to a database the fixture already deleted), and the failure shows up far from its
cause. tests/ui/conftest.py runs this after every test in tests/ui.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

# How long a test's leftovers get to wind down after it ends (threads finishing their last
# item, deleteLater running). Long enough for an orderly shutdown, short enough not to slow
# the suite: a test that leaves nothing behind pays nothing.
GRACE_SECONDS = 0.3


@dataclass(frozen=True)
class Snapshot:
    threads: frozenset[threading.Thread]
    timers: frozenset[int]


def active_timers() -> dict[int, QTimer]:
    """Active QTimers the application can reach: the application's own children and those
    of every top-level widget (hidden or not), keyed by the C++ object's address (a Python
    wrapper's id() can change between two lookups of the same timer)."""
    app = QApplication.instance()
    if app is None:
        return {}
    owners: list[QObject] = [app, *QApplication.topLevelWidgets()]
    found: dict[int, QTimer] = {}
    for owner in owners:
        for timer in owner.findChildren(QTimer):
            if shiboken6.isValid(timer) and timer.isActive():
                found[shiboken6.getCppPointer(timer)[0]] = timer
    return found


def snapshot() -> Snapshot:
    return Snapshot(frozenset(threading.enumerate()), frozenset(active_timers()))


def _describe_timer(timer: QTimer) -> str:
    chain = []
    owner = timer.parent()
    while owner is not None:
        name = owner.objectName()
        chain.append(type(owner).__name__ + (f"({name!r})" if name else ""))
        owner = owner.parent()
    where = " in " + " < ".join(chain) if chain else ""
    single = ", single shot" if timer.isSingleShot() else ""
    name = f" {timer.objectName()!r}" if timer.objectName() else ""
    return f"QTimer{name} every {timer.interval()} ms{single}{where}"


def leaks_since(before: Snapshot, grace: float = GRACE_SECONDS) -> list[str]:
    """What runs now that did not before `before`: new non-daemon threads still alive and new
    active timers, after giving them `grace` seconds (processing Qt events meanwhile) to end.
    Daemon threads are left alone: they cannot keep the process alive and the pools that own
    them (thumbnails, Qt's) are shared across tests on purpose."""
    app = QCoreApplication.instance()
    deadline = time.monotonic() + grace
    while True:
        if app is not None:
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            QCoreApplication.processEvents()
        threads = [
            t
            for t in threading.enumerate()
            if t not in before.threads and t.is_alive() and not t.daemon
        ]
        timers = [t for key, t in active_timers().items() if key not in before.timers]
        if not (threads or timers) or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    return [f"thread {t.name!r} ({type(t).__name__})" for t in threads] + [
        _describe_timer(t) for t in timers
    ]
