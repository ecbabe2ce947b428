"""Several processes opening a new library at once (Windows starts one process per
selected file): none of them fails with "database is locked"."""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import subprocess
import sys
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from app.cli.main import main
from app.core.library.library import Library
from app.core.storage.db import Database

ROUNDS = 20
PROCESSES = 4

# Holds the lock a process takes while it switches a new database to WAL
# (RESERVED, on the way to EXCLUSIVE), then lets go after a second.
HOLD_SWITCH_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(1.0)
conn.execute("COMMIT")
"""


def test_opening_waits_while_another_process_switches_a_new_library_to_wal(
    tmp_path: Path,
) -> None:
    """Today's failure, made deterministic: SQLite answers the WAL switch with
    "database is locked" at once (no busy handler) while another connection holds the
    new file's lock; opening now waits for it like any writer does."""
    path = tmp_path / "library.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SWITCH_LOCK, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        db = Database(path)
        try:
            assert Library(db).status().items == 0
            with db.read() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        finally:
            db.close()
        assert time.monotonic() - start < 8
    finally:
        assert holder.wait(timeout=20) == 0


def _first_command(data_dir: str, barrier: Barrier, results: Any) -> None:
    barrier.wait()
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--data-dir", data_dir, "status", "--json"])
    except BaseException as exc:  # noqa: BLE001 - the test reports whatever escaped
        results.put(f"{type(exc).__name__}: {exc}")
        return
    results.put(code if code == 0 else f"exit {code}: {err.getvalue()}")


def test_simultaneous_first_commands_on_new_data_dirs_all_succeed(tmp_path: Path) -> None:
    """20 rounds of 4 `status` commands started at the same moment on a fresh data dir
    (real processes, forked so that each starts in milliseconds, not seconds)."""
    ctx = multiprocessing.get_context("fork")
    failures = []
    for round_no in range(ROUNDS):
        data_dir = str(tmp_path / f"data{round_no}")
        barrier = ctx.Barrier(PROCESSES)
        results = ctx.Queue()
        procs = [
            ctx.Process(target=_first_command, args=(data_dir, barrier, results))
            for _ in range(PROCESSES)
        ]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=30)
            assert proc.exitcode == 0
        failures += [(round_no, o) for o in outcomes if o != 0]
    assert failures == []
