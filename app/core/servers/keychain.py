"""API keys of inference servers, kept in the OS keychain through `keyring`.

A key never goes into the library database, a log line or a command's output: the
registry stores only where to find it (a `KeyRef`). Where no keychain exists (headless
Linux, CI: keyring falls back to its "fail" backend, which raises NoKeyringError), the
user is told so in one sentence and pointed at the environment-variable fallback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

SERVICE = "Captionist inference servers"
KEYRING = "keyring"
ENV = "env"

NO_KEYCHAIN = (
    "This computer has no keychain Captionist can use (keyring found no backend), so the "
    "API key cannot be stored safely. Put the key in an environment variable and add the "
    "server with --key-env VAR instead."
)


class KeyProblem(Exception):
    """The key could not be stored or found; the message is a sentence for the user."""


class NoKeychain(KeyProblem):
    def __init__(self, detail: str = "") -> None:
        super().__init__(NO_KEYCHAIN + (f" ({detail})" if detail else ""))


@dataclass(frozen=True, slots=True)
class KeyRef:
    """Where a server's API key is: a keychain entry (by account name, fixed when the
    key was stored, so renaming the server keeps it) or an environment variable."""

    kind: str  # KEYRING or ENV
    name: str  # the keychain account, or the variable's name

    def to_text(self) -> str:
        return f"{self.kind}:{self.name}"

    @classmethod
    def from_text(cls, text: str | None) -> KeyRef | None:
        if not text:
            return None
        kind, _, name = text.partition(":")
        if kind not in (KEYRING, ENV) or not name:
            raise KeyProblem(f"the key reference {text!r} is not one Captionist knows")
        return cls(kind, name)

    def describe(self) -> str:
        """For `servers list` and the settings screen: where, never what."""
        if self.kind == ENV:
            return f"environment variable {self.name}"
        return "keychain"


def _keyring() -> ModuleType:  # keyring is imported only when a key is used
    import keyring

    return keyring


def store_key(account: str, secret: str) -> KeyRef:
    """Put `secret` in the keychain; NoKeychain when there is none."""
    keyring = _keyring()
    from keyring.errors import KeyringError, NoKeyringError

    try:
        keyring.set_password(SERVICE, account, secret)
    except NoKeyringError as exc:
        raise NoKeychain() from exc
    except KeyringError as exc:
        raise NoKeychain(f"the keychain refused: {exc.__class__.__name__}") from exc
    return KeyRef(KEYRING, account)


def delete_key(ref: KeyRef | None) -> None:
    """Forget a stored key (nothing to do for an environment variable or no key)."""
    if ref is None or ref.kind != KEYRING:
        return
    keyring = _keyring()
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        keyring.delete_password(SERVICE, ref.name)
    except PasswordDeleteError:
        pass  # already gone: the goal is reached
    except KeyringError as exc:
        raise NoKeychain(f"the keychain refused: {exc.__class__.__name__}") from exc


def resolve_key(server: str, ref: KeyRef | None) -> str | None:
    """The API key itself, for the request only; KeyProblem says why it is missing."""
    if ref is None:
        return None
    if ref.kind == ENV:
        value = os.environ.get(ref.name)
        if not value:
            raise KeyProblem(
                f"The API key of {server} is read from the environment variable "
                f"{ref.name}, which is not set for this process."
            )
        return value
    keyring = _keyring()
    from keyring.errors import KeyringError, NoKeyringError

    try:
        value = keyring.get_password(SERVICE, ref.name)
    except NoKeyringError as exc:
        raise NoKeychain() from exc
    except KeyringError as exc:
        raise NoKeychain(f"the keychain refused: {exc.__class__.__name__}") from exc
    if value is None:
        raise KeyProblem(
            f"The API key of {server} is no longer in the keychain: edit the server and "
            "enter it again."
        )
    return str(value)
