"""Two real Captionist processes on one library: the first opens the window (offscreen)
with `caption-this`, the second `caption-this` hands its file to the first and exits; both
files end up queued first in the first's library. SIGTERM then closes the window as its
close button would, releasing the caption worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from app.core.datadir import DataDir
from app.core.jobs import PRIORITY_USER
from app.core.storage.db import Database
from tests.media_factory import write_photo

REPO = Path(__file__).resolve().parents[2]
START_S = 60  # the first launch imports Qt, opens the database, starts the worker


def launch(data: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), "--data-dir", str(data), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def queued(data: Path, photo: Path) -> int | None:
    """The priority of the photo's open caption job, if it has one."""
    db = Database(DataDir(data).database)
    try:
        with db.read() as conn:
            return conn.exec_driver_sql(
                "SELECT j.priority FROM jobs j JOIN media_items m ON m.id = j.item_id "
                "WHERE m.path = ? AND j.state IN ('queued', 'running')",
                (os.fsencode(os.path.realpath(photo)),),
            ).scalar()
    finally:
        db.close()


def wait_for(condition: object, seconds: float, what: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        if proc.poll() is not None:
            pytest.fail(f"the app exited ({proc.returncode}) before {what}: {proc.stdout.read()}")  # type: ignore[union-attr]
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM closes the app on Unix")
def test_second_caption_this_reaches_the_running_app(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first_photo = write_photo(tmp_path / "Camera" / "first.jpg", "astronaut")
    second_photo = write_photo(tmp_path / "Downloads" / "sécond photo.jpg", "rocket")

    app = launch(data, "caption-this", str(first_photo))
    try:
        wait_for(lambda: queued(data, first_photo) == PRIORITY_USER, START_S, "the queue", app)

        second = launch(data, "caption-this", str(second_photo))
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 0, out
        wait_for(lambda: queued(data, second_photo) == PRIORITY_USER, 30, "the hand-over", app)
        assert app.poll() is None  # the first is still the one window

        app.send_signal(signal.SIGTERM)
        out, _ = app.communicate(timeout=30)
        assert app.returncode == 0, out
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    # Closed properly: the caption worker is gone and its lock free for the next start.
    FileLock(str(DataDir(data).root / "worker.lock")).acquire(timeout=10)


def test_without_a_display_the_window_says_why(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}  # fmt: skip
    if not sys.platform.startswith("linux"):
        pytest.skip("only Linux has no display by default in a terminal")
    result = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "--data-dir", str(tmp_path / "d")],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no display" in result.stderr and "captionist caption PATH" in result.stderr
