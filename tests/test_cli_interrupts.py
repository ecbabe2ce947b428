"""Interrupting the commands (issue 17): real SIGINT, as a terminal's Ctrl+C sends it
to the whole foreground process group, and real SIGTERM, to real subprocesses. Each
ends with what was done, cleans up what it queued, and prints no traceback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.datadir import DataDir
from app.core.library.library import Library
from tests.media_factory import REAL_PHOTOS, write_photo
from tests.test_cli_caption import MMPROJ, MODEL, configure

ROOT = Path(__file__).resolve().parents[1]


def start(data: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "main.py", "--data-dir", str(data), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job is
    )


def wait_for(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def count(data: Path, sql: str) -> int:
    """Read-only, straight from SQLite: the command is the one creating the database."""
    path = data / DataDir.resolve(data).database.name
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute(sql).fetchone()[0] or 0)
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        conn.close()


def run_leftovers(library: Library) -> list[tuple[int, str | None]]:
    """Open jobs that are first in line or carry a run's model or prompt."""
    with library.db.read() as conn:
        return list(
            conn.exec_driver_sql(
                "SELECT priority, params FROM jobs WHERE state IN ('queued', 'running') "
                "AND (priority >= 100 OR coalesce(params, 'null') != 'null')"
            ).all()
        )


def photos(folder: Path, n: int) -> list[Path]:
    return [
        write_photo(folder / f"p{i:02d}.jpg", REAL_PHOTOS[i % len(REAL_PHOTOS)], size=(96 + i, 96))
        for i in range(n)
    ]


@pytest.fixture
def big_folder(tmp_path: Path) -> Path:
    """Enough files that a scan takes a few seconds: copies of a few photos."""
    folder = tmp_path / "big"
    seeds = photos(tmp_path / "seeds", 4)
    for i in range(1500):
        target = folder / f"d{i // 100}" / f"f{i:04d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(seeds[i % 4], target)
    return folder


def test_ctrl_c_on_caption_prints_what_was_done_and_unqueues_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    library = configure(data)
    files = photos(tmp_path / "in", 6)
    run = start(
        data, "caption", *map(str, files), "--model-path", str(MODEL), "--mmproj", str(MMPROJ)
    )
    wait_for(lambda: count(data, "SELECT count(*) FROM jobs WHERE state = 'done'") >= 1)

    os.killpg(run.pid, signal.SIGINT)
    out, err = run.communicate(timeout=60)

    assert run.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted" in err
    captioned = [line for line in out.splitlines() if line.startswith(str(tmp_path))]
    assert len(captioned) == 6  # every file is reported, the done ones with their caption
    assert "not captioned: interrupted" in out
    done = count(data, "SELECT count(*) FROM jobs WHERE state = 'done'")
    assert out.count("error:") == 6 - done
    # Nothing of the run is left for a later worker or the window to pick up: the
    # files it brought into the library wait like any new file (in the background,
    # with the library's own model), not first in line with the command's model.
    assert run_leftovers(library) == []
    assert library.jobs.counts().get("running", 0) == 0
    library.db.close()


def test_sigterm_on_caption_ends_cleanly_with_its_worker(tmp_path: Path) -> None:
    data = tmp_path / "data"
    library = configure(data)
    files = photos(tmp_path / "in", 4)
    run = start(
        data,
        "caption",
        *map(str, files),
        "--model-path",
        str(MODEL),
        "--mmproj",
        str(MMPROJ),
        "--json",
    )
    wait_for(lambda: count(data, "SELECT count(*) FROM jobs WHERE state = 'done'") >= 1)

    run.send_signal(signal.SIGTERM)  # to the command only, as `kill PID` does
    out, err = run.communicate(timeout=60)

    assert run.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in err and "BrokenPipeError" not in err
    results = json.loads(out)
    assert len(results) == 4 and any(r["error"] is None for r in results)
    assert run_leftovers(library) == []
    library.db.close()


def test_a_killed_caption_leaves_its_worker_quiet(tmp_path: Path) -> None:
    """`caption` killed outright: its worker finds the pipe closed, stops, and prints
    no BrokenPipeError on the terminal they share."""
    data = tmp_path / "data"
    configure(data).db.close()
    files = photos(tmp_path / "in", 4)
    err_file = tmp_path / "stderr.txt"
    with err_file.open("w") as err:
        run = subprocess.Popen(
            [sys.executable, "main.py", "--data-dir", str(data), "caption", *map(str, files)]
            + ["--model-path", str(MODEL), "--mmproj", str(MMPROJ)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,  # shared with the worker, as a terminal is
            text=True,
        )
        wait_for(lambda: count(data, "SELECT count(*) FROM jobs WHERE state = 'done'") >= 1)
        run.kill()
        run.wait(30)
        # The worker goes on until its next event finds nobody reading.
        wait_for(lambda: count(data, "SELECT count(*) FROM jobs WHERE state = 'running'") == 0)
        time.sleep(2)
    text = err_file.read_text()
    assert "BrokenPipeError" not in text and "Traceback" not in text


def test_ctrl_c_on_scan_reports_what_it_found(tmp_path: Path, big_folder: Path) -> None:
    data = tmp_path / "data"
    run = start(data, "scan", str(big_folder))
    wait_for(lambda: count(data, "SELECT count(*) FROM media_items") > 0)

    os.killpg(run.pid, signal.SIGINT)
    out, err = run.communicate(timeout=60)

    assert run.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted" in err and "again" in err
    assert f"{big_folder}:" in out and " new, " in out  # what was found so far


def test_ctrl_c_on_watch_during_its_first_scan_stops_without_watching(
    tmp_path: Path, big_folder: Path
) -> None:
    data = tmp_path / "data"
    run = start(data, "watch", str(big_folder))
    wait_for(lambda: count(data, "SELECT count(*) FROM media_items") > 0)

    os.killpg(run.pid, signal.SIGINT)
    out, err = run.communicate(timeout=60)

    assert "Traceback" not in err
    assert "press Ctrl+C to stop" not in out  # the "watching; …" line
    assert "stopped watching" in err


@pytest.fixture(autouse=True)
def _fresh_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAPTIONIST_DATA_DIR", raising=False)
