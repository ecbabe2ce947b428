"""Named test doubles for the inference-server tests: an in-memory keychain (a real
keyring backend, installed with keyring.set_keyring) and server checks that answer
without a network."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

from app.core.servers.checks import ProbeResult, install_checks
from app.core.servers.registry import ServerConnection
from models.servers.backend import ServerError, ServerProblem


class InMemoryKeyring(KeyringBackend):
    """A keychain that lives in this process only: what was stored is inspectable."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError("no such password")


@contextmanager
def keychain(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def no_keychain() -> KeyringBackend:
    """What headless Linux gets: keyring's fail backend, which raises NoKeyringError."""
    return fail.Keyring()


class FakeServerChecks:
    """Answers probes and test captions from a table, by server URL; records calls
    (with the API key each request carried) so tests can see what was sent."""

    def __init__(self, healthy: dict[str, ProbeResult] | None = None) -> None:
        self.healthy = dict(healthy or {})
        self.calls: list[tuple[str, str, str | None]] = []
        self.answer = "A red ball on a sandy beach by the sea."
        self.seconds = 0.42

    def probe(self, connection: ServerConnection) -> ProbeResult:
        self.calls.append(("probe", connection.url, connection.api_key))
        found = self.healthy.get(connection.url)
        if found is None:
            raise ServerError(
                connection.name,
                ServerProblem.DOWN,
                f"{connection.name} ({connection.url}) is not answering: connection refused.",
            )
        return found

    def test_caption(self, connection: ServerConnection, jpeg: bytes) -> tuple[str, float]:
        self.calls.append(("caption", connection.url, connection.api_key))
        assert jpeg.startswith(b"\xff\xd8"), "a test caption sends a JPEG"
        return self.answer, self.seconds


LLAMA = ProbeResult(
    kind="llama-server",
    models=["qwen2.5-vl-3b", "smolvlm-256m"],
    slots=4,
    vision=True,
    latency_ms=12.0,
)


@contextmanager
def checks_installed(checks: FakeServerChecks) -> Iterator[FakeServerChecks]:
    previous = install_checks(checks)
    try:
        yield checks
    finally:
        install_checks(previous)
