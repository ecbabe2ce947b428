"""The single-instance channel: a second process hands its paths to the first over a real
local socket; a socket left by a crashed instance does not block a start; a live one is
never taken over; garbage on the socket is dropped."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import QDir
from PySide6.QtNetwork import QLocalServer
from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from app.services.single_instance import InstanceServer, hand_over, server_name

WAIT = 10_000
REPO = Path(__file__).resolve().parents[2]


def unique_name() -> str:
    return f"captionist-test-{uuid.uuid4().hex[:12]}"


def client(name: str, *paths: str, cwd: Path, caption: bool = True) -> subprocess.Popen[str]:
    """Another process doing what a second launch does."""
    code = (
        "import sys; from app.services.single_instance import hand_over; "
        "sys.exit(0 if hand_over(sys.argv[1], sys.argv[3:], caption=sys.argv[2] == '1') else 1)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, name, "1" if caption else "0", *paths], cwd=cwd, text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_names_differ_per_library_and_stay_short(tmp_path: Path) -> None:
    first, second = server_name(tmp_path / "a"), server_name(tmp_path / "b")
    assert first != second
    assert first == server_name(tmp_path / "a" / ".." / "a")  # the same folder
    assert len(first) < 40  # Unix socket paths are limited to ~100 bytes with the folder


@pytest.mark.parametrize(
    ("paths", "caption"),
    [
        (["été.jpg", "Album"], True),  # caption-this, relative to the sender's folder
        (["a.jpg"], False),  # Open with: add and show, not first in line
        ([], True),  # a plain second launch: only the window comes forward
    ],
)
def test_a_second_process_hands_its_request_to_the_first(
    qtbot: QtBot, tmp_path: Path, paths: list[str], caption: bool
) -> None:
    server = InstanceServer(unique_name())
    assert server.listen()
    try:
        with qtbot.waitSignal(server.paths_received, timeout=WAIT) as received:
            proc = client(server.name, *paths, cwd=tmp_path, caption=caption)
        assert received.args == [[str(tmp_path / p) for p in paths], caption]
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=WAIT)
        assert proc.returncode == 0  # the first confirmed
    finally:
        server.close()


def test_with_nobody_listening_the_launch_starts_its_own(tmp_path: Path) -> None:
    assert hand_over(unique_name(), ["a.jpg"]) is False


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes leave no file behind")
def test_a_socket_left_by_a_crashed_instance_does_not_block(qtbot: QtBot, tmp_path: Path) -> None:
    name = unique_name()
    stale = Path(QDir.tempPath()) / name
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(stale))  # bound, never listened on, closed: what a crash leaves
    dead.close()
    assert stale.exists()
    server = InstanceServer(name)
    try:
        assert server.listen()
        with qtbot.waitSignal(server.paths_received, timeout=WAIT) as received:
            proc = client(name, "x.png", cwd=tmp_path)
        assert received.args == [[str(tmp_path / "x.png")], True]
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=WAIT)
    finally:
        server.close()


def test_a_live_instance_is_never_taken_over(qtbot: QtBot) -> None:
    name = unique_name()
    first = QLocalServer()
    assert first.listen(name)
    try:
        assert not InstanceServer(name).listen()
        assert first.isListening()
    finally:
        first.close()


def test_garbage_is_dropped_without_a_signal(qtbot: QtBot, tmp_path: Path) -> None:
    server = InstanceServer(unique_name())
    assert server.listen()
    code = (
        "import sys; from PySide6.QtNetwork import QLocalSocket; s = QLocalSocket(); "
        "s.connectToServer(sys.argv[1]); s.waitForConnected(2000); "
        "s.write(b'{\"paths\": 42}\\n'); s.flush(); "
        "sys.exit(0 if not s.waitForReadyRead(3000) else 1)"
    )
    try:
        with qtbot.assertNotEmitted(server.paths_received, wait=500):
            proc = subprocess.run(
                [sys.executable, "-c", code, server.name], cwd=REPO, timeout=30, check=False
            )
        assert proc.returncode == 0  # no "ok": the connection was closed instead
    finally:
        server.close()


def test_only_window_launches_hand_over_early(qtbot: QtBot, tmp_path: Path) -> None:
    """`captionist [open|caption-this] ...` reaches the open window before the command
    line's heavy imports; headless commands, help and bad arguments never do."""
    data = tmp_path / "library"
    server = InstanceServer(server_name(DataDir.resolve(data).root))
    assert server.listen()
    code = (
        "import sys; from app.launch import hand_over_early; "
        "sys.exit(0 if hand_over_early(sys.argv[1:]) else 1)"
    )

    def early(*argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", code, "--data-dir", str(data), *argv], cwd=tmp_path,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, text=True,
        )  # fmt: skip

    try:
        with qtbot.assertNotEmitted(server.paths_received, wait=300):
            for argv in (["status"], ["caption", "a.jpg"], ["caption-this"], ["-h"], ["-x"]):
                proc = early(*argv)
                qtbot.waitUntil(lambda p=proc: p.poll() is not None, timeout=WAIT)
                assert proc.returncode == 1, argv
        with qtbot.waitSignal(server.paths_received, timeout=WAIT) as received:
            proc = early("open", "b.jpg")
        assert received.args == [[str(tmp_path / "b.jpg")], False]
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=WAIT)
        assert proc.returncode == 0
    finally:
        server.close()
