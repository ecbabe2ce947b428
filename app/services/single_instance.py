"""One Captionist window per user and library: a second launch hands over and exits.

The first instance listens on a local socket (a Unix socket or a Windows named pipe,
through QLocalServer) named after the user and the data directory, so two users, or one
user with two libraries (`--data-dir`), never reach each other's window. A later launch
(a double-click, the desktop entry's "Caption this" action, a file manager's script)
connects, sends one JSON line `{"paths": [...], "caption": true}` and waits for "ok": the
running app then adds those paths to the library, queues them at the front of the line
when `caption` is set ("Caption this"; unset for "Open with"), and comes forward. Paths are made
absolute by the sender, whose working directory the running app does not share.

A socket left behind by a crashed instance does not block a start: nobody answers on
it, so it is removed and listened on again.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

CONNECT_TIMEOUT_MS = 1500
REPLY_TIMEOUT_MS = 5000
MAX_MESSAGE_BYTES = 4 * 2**20  # thousands of paths; more is not a file manager talking
REPLY = b"ok\n"


def server_name(data_dir: Path) -> str:
    """The socket name for this user and library; short (Unix socket paths are limited)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers): the uid still separates
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    key = f"{user}\0{os.path.realpath(data_dir)}".encode("utf-8", "surrogateescape")
    return "captionist-" + hashlib.sha256(key).hexdigest()[:20]


def absolute_paths(paths: Sequence[str]) -> list[str]:
    return [os.path.abspath(os.path.expanduser(p)) for p in paths]


def hand_over(
    name: str, paths: Sequence[str], *, caption: bool = True, timeout_ms: int = REPLY_TIMEOUT_MS
) -> bool:
    """Give the paths (maybe none: then only bring the window forward) to the running
    instance. False when none is running or it did not confirm; then start one."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
        return False
    request = {"paths": absolute_paths(paths), "caption": caption}
    message = json.dumps(request, ensure_ascii=False) + "\n"
    socket.write(message.encode("utf-8", "surrogateescape"))
    socket.flush()
    reply = b""
    while not reply.endswith(b"\n") and socket.waitForReadyRead(timeout_ms):
        reply += bytes(socket.readAll().data())
    socket.disconnectFromServer()
    return reply == REPLY


class InstanceServer(QObject):
    """The running instance's end: emits `paths_received` (paths, maybe none, and whether
    to caption them) on the GUI thread for each launch that handed over."""

    paths_received = Signal(list, bool)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server = QLocalServer(self)
        # Only this user may connect (the socket file's mode; a pipe's ACL on Windows).
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytes] = {}

    def listen(self) -> bool:
        """Start listening; False if another live instance holds the name.

        Asked first, not left to `listen`: with an access option set, Qt binds in a
        private folder and renames the socket into place, which would silently replace a
        live instance's socket instead of failing."""
        probe = QLocalSocket()
        probe.connectToServer(self.name)
        if probe.waitForConnected(CONNECT_TIMEOUT_MS):  # alive: not ours to take
            probe.disconnectFromServer()
            return False
        QLocalServer.removeServer(self.name)  # nobody answers: left by a crashed instance
        return self._server.listen(self.name)

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while (socket := self._server.nextPendingConnection()) is not None:
            self._buffers[socket] = b""
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._forget(s))
            if socket.bytesAvailable():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        data = self._buffers.get(socket, b"") + bytes(socket.readAll().data())
        if len(data) > MAX_MESSAGE_BYTES:
            socket.abort()
            self._forget(socket)
            return
        if not data.endswith(b"\n"):
            self._buffers[socket] = data
            return
        self._buffers[socket] = b""
        request = _parse(data)
        if request is None:
            socket.abort()
            self._forget(socket)
            return
        socket.write(REPLY)
        socket.flush()
        self.paths_received.emit(*request)

    def _forget(self, socket: QLocalSocket) -> None:
        if self._buffers.pop(socket, None) is not None:
            socket.deleteLater()


def _parse(data: bytes) -> tuple[list[str], bool] | None:
    try:
        message = json.loads(data.decode("utf-8", "surrogateescape"))
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    paths, caption = message.get("paths"), message.get("caption", True)
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        return None
    return paths, caption is True
