"""The real window on a real X server: `main.py` as its own process on Xvfb with Qt's xcb
platform (every other GUI test uses the offscreen platform, which needs none of the xcb
libraries), driven from outside the way a user's desktop drives it: the caption-this
hand-over from a second `main.py`, `main.py search` against the same data folder (the
shapes-world model captions a world photo, so search finds it by what it shows), a
screenshot of the screen, and SIGTERM from the session. The item menu is opened by the
window test that right-clicks an item, run in-process (pytest-qt) under xcb on the same
display."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from PySide6.QtWidgets import QApplication

from app.core.datadir import DataDir
from app.core.storage.db import Database
from app.services.single_instance import server_name
from tests.media_factory import write_photo
from tests.ui.test_main_window import configure
from tests.world_support import WORLD_MODEL, write_heldout_photos

ROOT = Path(__file__).resolve().parents[2]
SCREEN = (1280, 800)
START_WAIT = 30.0
CAPTION_WAIT = 120.0

GRAB = """
import sys
from PySide6.QtGui import QGuiApplication
app = QGuiApplication(sys.argv[:1])
shot = app.primaryScreen().grabWindow(0)
sys.exit(0 if shot.save(sys.argv[1]) else 1)
"""


def wait_for(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


def free_display() -> int:
    for number in range(90, 400):
        lock = Path(f"/tmp/.X{number}-lock")
        socket = Path(f"/tmp/.X11-unix/X{number}")
        if not lock.exists() and not socket.exists():
            return number
    pytest.fail("no free X display number between :90 and :399")


@pytest.fixture
def display() -> Iterator[str]:
    """A fresh Xvfb of its own; the test is skipped only when Xvfb is not installed."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb); .ci/run installs it")
    number = free_display()
    server = subprocess.Popen(
        [xvfb, f":{number}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: Path(f"/tmp/.X11-unix/X{number}").exists() or server.poll() is not None,
            10,
            "Xvfb to start",
        )
        assert server.poll() is None, f"Xvfb :{number} exited with {server.returncode}"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def xcb_env(display: str) -> dict[str, str]:
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT))
    env.pop("WAYLAND_DISPLAY", None)
    return env


def app_command(data_dir: DataDir, *args: str) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), *args, "--data-dir", str(data_dir.root)]


def children_of(pid: int) -> set[int]:
    """Every descendant of `pid` (from /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for kid in map(int, kids):
                if kid not in found:
                    found.add(kid)
                    todo.append(kid)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def captions(data_dir: DataDir, name: str) -> int:
    db = Database(data_dir.database)
    try:
        with db.read() as conn:
            return conn.exec_driver_sql(
                "SELECT count(*) FROM captions c JOIN media_items m ON m.id = c.item_id"
                " WHERE m.name = ?",
                (name,),
            ).scalar_one()
    finally:
        db.close()


def is_blank(png: Path) -> bool:
    with Image.open(png) as image:
        stats = ImageStat.Stat(image.convert("L"))
    return stats.stddev[0] < 8.0


@pytest.mark.skipif(sys.platform != "linux", reason="Xvfb and /proc are Linux's")
def test_real_window_under_xvfb_captions_searches_screenshots_and_stops_on_sigterm(
    display: str, data_dir: DataDir, tmp_path: Path
) -> None:
    photos = tmp_path / "Photos"
    # A held-out photo of the shapes world with one large shape, captioned by the world
    # model, so the search below finds it by what it shows (not by its file name).
    [(shapes, truth)] = write_heldout_photos(
        photos, 1, wanted=lambda t: len(t.shapes) == 1 and t.shapes[0].size == "large"
    )
    write_photo(photos / "astronaut.jpg", "astronaut")
    configure(
        data_dir,
        custom_model_path=str(WORLD_MODEL / "model.gguf"),
        custom_mmproj_path=str(WORLD_MODEL / "mmproj.gguf"),
        auto_caption=False,
    )
    env = xcb_env(display)
    log = (tmp_path / "app.log").open("w")
    app = subprocess.Popen(
        app_command(data_dir, "open", str(photos)),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Listening for hand-overs is the window's first step: until then a second
        # main.py would open a second window rather than hand over.
        listening = Path(tempfile.gettempdir()) / server_name(data_dir.root)
        wait_for(
            lambda: app.poll() is not None or listening.exists(),
            START_WAIT,
            f"the window to listen for hand-overs on {listening}",
        )
        # The hand-over: a second main.py queues the photo in the open window and exits.
        handed = subprocess.run(
            app_command(data_dir, "caption-this", str(shapes)),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=START_WAIT,
        )
        assert handed.returncode == 0, handed.stdout + handed.stderr
        wait_for(
            lambda: app.poll() is not None or captions(data_dir, shapes.name) > 0,
            CAPTION_WAIT,
            f"the world model's caption of {shapes.name} in the library",
        )
        assert app.poll() is None, f"the window exited with {app.returncode}"
        assert captions(data_dir, "astronaut.jpg") == 0  # only what was handed over

        shown = truth.shapes[0]
        found = subprocess.run(
            app_command(data_dir, "search", "--json", f'"{shown.colour} {shown.kind}"'),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=START_WAIT,
        )
        assert found.returncode == 0, found.stdout + found.stderr
        hits = json.loads(found.stdout)
        assert [Path(hit["path"]).name for hit in hits] == [shapes.name]

        shot = tmp_path / "screen.png"
        grabbed = subprocess.run(
            [sys.executable, "-c", GRAB, str(shot)],
            env=env,
            capture_output=True,
            text=True,
            timeout=START_WAIT,
        )
        assert grabbed.returncode == 0, grabbed.stdout + grabbed.stderr
        with Image.open(shot) as image:
            assert image.size == SCREEN
        assert not is_blank(shot), "the screenshot of the window is blank"

        helpers = children_of(app.pid)
        assert helpers, "the caption worker runs as a child process of the window"
        app.send_signal(signal.SIGTERM)
        assert app.wait(20) == 0
        wait_for(lambda: not any(alive(pid) for pid in helpers), 10, "the worker to stop too")
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(10)
        log.close()
    text = (tmp_path / "app.log").read_text()
    assert "Traceback" not in text, text


def test_the_qt_platform_is_the_one_asked_for(qapp: QApplication) -> None:
    """Run with the item-menu test below, so a pass there means it ran on xcb (tests
    default to offscreen when QT_QPA_PLATFORM is unset)."""
    wanted = os.environ.get("CAPTIONIST_TEST_PLATFORM")
    if not wanted:
        pytest.skip("only in the xcb run of the item-menu test")
    assert qapp.platformName() == wanted


@pytest.mark.skipif(sys.platform != "linux", reason="Xvfb is Linux's")
def test_item_menu_on_the_real_window_under_xcb(display: str) -> None:
    """The right-click menu of an item, opened on the real window under xcb: the window
    test that does it, run by pytest-qt in a process of its own on this display."""
    platform = f"{Path(__file__).relative_to(ROOT)}::test_the_qt_platform_is_the_one_asked_for"
    menu = (
        "tests/ui/test_main_window.py::test_right_click_caption_this_captions_with_the_real_worker"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", platform, menu],
        cwd=ROOT,
        env=dict(xcb_env(display), CAPTIONIST_TEST_PLATFORM="xcb"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout, run.stdout[-4000:]
