"""The inference servers as members of the caption pool (app/core/captioning/pool.py).

Each enabled server becomes a `ServerMember`: probed when the run starts (kind, model,
slots, loaded adapters) and, when that fails, probed again on its first request, so a
server that is down at start is one the pool backs off and tries again (its circuit
breaker), not one dropped for the whole run. Until a probe succeeds its slots are the
entry's (or 1).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from app.core.datadir import DataDir
from app.core.servers.checks import client_config
from app.core.servers.keychain import KeyProblem
from app.core.servers.registry import ServerEntry, ServerRegistry, config_for
from app.core.settings import CaptionBackends, Settings
from app.core.storage.db import Database
from models.runtime import CaptionResult
from models.servers.backend import CaptionBackend, ServerError, ServerProblem

if TYPE_CHECKING:
    from models.servers.client import ServerBackend


class ServerMember:
    """A CaptionBackend for one server, probing it when it must."""

    def __init__(self, entry: ServerEntry) -> None:
        self.entry = entry
        self._lock = threading.Lock()
        self._backend: ServerBackend | None = None
        self._slots = entry.slots or 1
        with contextlib.suppress(ServerError):  # down at start: probed again on first use
            self._connect()

    def _connect(self) -> ServerBackend:
        from models.servers.client import ServerBackend, probe

        with self._lock:
            if self._backend is None:
                try:
                    config = client_config(config_for(self.entry))
                except KeyProblem as exc:  # the keychain is gone, the variable unset
                    raise ServerError(self.entry.name, ServerProblem.AUTH, str(exc)) from exc
                info = probe(config)
                self._backend = ServerBackend(config, info)
                self._slots = info.slots
            return self._backend

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def model_id(self) -> str:
        backend = self._backend
        return backend.model_id if backend else (self.entry.model or "the server's model")

    @property
    def slots(self) -> int:
        return self._slots

    def supports_adapter(self, adapter_id: str) -> bool:
        backend = self._backend
        return backend is not None and backend.supports_adapter(adapter_id)

    def caption(self, *args: Any, **kwargs: Any) -> CaptionResult:
        return self._connect().caption(*args, **kwargs)

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()


def server_members(entries: Sequence[ServerEntry]) -> list[CaptionBackend]:
    return [ServerMember(entry) for entry in entries if entry.enabled]


def members_factory(
    data_dir: DataDir, one_off: Sequence[ServerEntry] = ()
) -> Callable[[], list[CaptionBackend]]:
    """What the worker calls when its run starts: the servers given for this run, or
    else the enabled servers of the library's registry."""

    def make() -> list[CaptionBackend]:
        return server_members(list(one_off) or registered(data_dir))

    return make


def registered(data_dir: DataDir) -> list[ServerEntry]:
    db = Database(data_dir.database)
    try:
        return ServerRegistry(Settings(db)).list()
    finally:
        db.close()


def run_mode(data_dir: DataDir, one_off: Sequence[ServerEntry]) -> CaptionBackends | None:
    """The worker's mode for this run: servers given with `--server` caption even when
    the library is set to this computer (that is what the user asked for); otherwise
    the library's setting (None: the worker reads it)."""
    if not one_off:
        return None
    db = Database(data_dir.database)
    try:
        mode = Settings(db).read().caption_backends
    finally:
        db.close()
    return CaptionBackends.SERVERS if mode == CaptionBackends.LOCAL else CaptionBackends(mode)
