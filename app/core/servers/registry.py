"""The user's inference servers and who captions ("local", "servers" or "both").

Stored in the library's settings (`inference_servers`, `caption_backends`), so the window
and the CLI worker read the same list. An entry holds where the server is and how to
talk to it; its API key stays in the OS keychain or an environment variable (see
keychain.py) and is resolved only when a request is made (`config_for`).

Privacy (issue 13): photos leave this computer only for servers the user added and
enabled; `privacy_statement` says so in plain words, `warnings` flags plain http to
another machine and a certificate that is not verified.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from app.core.servers.keychain import (
    ENV,
    KeyProblem,
    KeyRef,
    delete_key,
    resolve_key,
    store_key,
)
from app.core.settings import Settings

LOCAL, SERVERS, BOTH = "local", "servers", "both"
MODES = (LOCAL, SERVERS, BOTH)
MODE_WORDS = {LOCAL: "this computer", SERVERS: "servers", BOTH: "both"}
MAX_SLOTS = 256
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class RegistryError(ValueError):
    """Something the user asked for cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class ServerEntry:
    name: str
    url: str  # normalised: scheme://host[:port][/path], no trailing slash, no /v1
    model: str | None = None  # None: whatever the server serves by default
    key_ref: str | None = None  # KeyRef.to_text(): "keyring:ACCOUNT" or "env:VAR"
    allow_self_signed: bool = False
    slots: int | None = None  # None: detect (llama-server's /props total_slots)
    enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServerEntry:
        """An entry as stored; RegistryError for one a hand edit broke."""
        try:
            slots = data.get("slots")
            entry = cls(
                name=str(data["name"]),
                url=normalise_url(str(data["url"])),
                model=_text_or_none(data.get("model")),
                key_ref=_text_or_none(data.get("key_ref")),
                allow_self_signed=bool(data.get("allow_self_signed", False)),
                slots=None if slots is None else check_slots(int(slots)),
                enabled=bool(data.get("enabled", True)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryError(f"a stored server entry cannot be read ({exc})") from exc
        return entry

    @property
    def key(self) -> KeyRef | None:
        return KeyRef.from_text(self.key_ref)

    def key_source(self) -> str:
        """Where the key comes from, never the key: "none", "keychain", "environment
        variable VAR"."""
        key = self.key
        return key.describe() if key else "none"

    def shown(self) -> str:
        return f"{self.name} ({self.url})"


@dataclass(frozen=True, slots=True)
class ServerConnection:
    """What the HTTP client needs for one server: the fields of
    models.servers.client.ServerConfig, the key resolved (app/core/servers/checks.py
    turns this into the client's own type)."""

    url: str
    name: str
    api_key: str | None
    model: str | None
    allow_self_signed: bool
    slots: int | None
    request_timeout_s: float | None = None  # None: the client's default


def _text_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def normalise_url(url: str) -> str:
    """The server's base address, checked: http or https, a host, a valid port, no
    password in it. A pasted ".../v1" or trailing slash is dropped (the client adds
    the API paths). RegistryError says what is wrong."""
    text = url.strip()
    if "://" not in text:
        raise RegistryError(
            f"{url!r} is not a server address: write it with http:// or https://, "
            "e.g. http://192.168.1.5:8080"
        )
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise RegistryError(f"{url!r}: only http:// and https:// servers are supported")
    if not parts.hostname:
        raise RegistryError(f"{url!r} names no host")
    if parts.username or parts.password:
        raise RegistryError(
            f"{url!r} carries a user or password: give the API key separately "
            "(--key-env VAR or --key-stdin), so it is not stored with the address"
        )
    if parts.query or parts.fragment:
        raise RegistryError(f"{url!r}: a server address has no ?query or #fragment")
    try:
        port = parts.port
    except ValueError:
        raise RegistryError(f"{url!r}: the port must be a number from 1 to 65535") from None
    if port == 0:
        raise RegistryError(f"{url!r}: the port must be a number from 1 to 65535")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    host = parts.hostname.lower()
    shown_host = f"[{host}]" if ":" in host else host
    netloc = f"{shown_host}:{port}" if port else shown_host
    return f"{parts.scheme.lower()}://{netloc}{path}"


def check_slots(slots: int | None) -> int | None:
    if slots is not None and not 1 <= slots <= MAX_SLOTS:
        raise RegistryError(f"slots must be from 1 to {MAX_SLOTS} (or left to be detected)")
    return slots


def check_env_name(name: str) -> str:
    if not _ENV_NAME.match(name):
        raise RegistryError(f"{name!r} is not an environment variable name")
    return name


def host_of(url: str) -> str:
    return urlsplit(url).hostname or url


def is_loopback(url: str) -> bool:
    host = host_of(url)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_name(url: str, taken: Iterable[str]) -> str:
    """The host, made unique ("gpu-box", "gpu-box-2", …)."""
    base = host_of(url)
    used = {name.casefold() for name in taken}
    name, n = base, 2
    while name.casefold() in used:
        name, n = f"{base}-{n}", n + 1
    return name


def warnings(entry: ServerEntry) -> list[str]:
    """What the user should know before photos go to this server."""
    found = []
    if entry.url.startswith("http://") and not is_loopback(entry.url):
        found.append(
            f"{entry.name} is reached over plain http:// on the network: photos and the API "
            "key travel unencrypted. Use https:// unless the network is yours."
        )
    if entry.allow_self_signed and entry.url.startswith("https://"):
        found.append(
            f"{entry.name}: its self-signed certificate is accepted without being verified, "
            "so another machine on the network could pose as it."
        )
    return found


def privacy_statement(entries: Iterable[ServerEntry], mode: str) -> str:
    """Where photos go, in plain words, for the settings screen and `servers list`."""
    enabled = [e for e in entries if e.enabled]
    if mode == LOCAL:
        if enabled:
            return (
                "Photos stay on this computer: captioning is set to this computer, so the "
                "servers listed here are not used."
            )
        return "Photos stay on this computer."
    if not enabled:
        if mode == BOTH:
            return "Photos stay on this computer: no server is enabled."
        return (
            "No server is enabled, so nothing is captioned until one is: photos stay on "
            "this computer."
        )
    where = ", ".join(e.shown() for e in enabled)
    also = " They are also captioned on this computer." if mode == BOTH else ""
    return (
        f"Photos are sent to: {where}. Only these servers receive them, as resized "
        f"copies, never the original files.{also}"
    )


class ServerRegistry:
    """Reads and writes the server list in one library's settings (call off the GUI
    thread: each call is a database read or write, and keychain calls may block)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    # -- reading ------------------------------------------------------------------
    def list(self) -> list[ServerEntry]:
        return entries_from(self._settings.read().inference_servers)

    def get(self, name: str) -> ServerEntry:
        for entry in self.list():
            if entry.name.casefold() == name.casefold():
                return entry
        known = ", ".join(e.name for e in self.list()) or "none yet"
        raise RegistryError(f"there is no server named {name!r} (known: {known})")

    def mode(self) -> str:
        mode = self._settings.read().caption_backends
        return mode if mode in MODES else LOCAL

    # -- writing ------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise RegistryError(f"the mode is one of {', '.join(MODES)} (got {mode!r})")
        self._settings.set("caption_backends", mode)

    def add(
        self,
        url: str,
        *,
        name: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        key_env: str | None = None,
        allow_self_signed: bool = False,
        slots: int | None = None,
        enabled: bool = True,
    ) -> ServerEntry:
        """Add a server. `api_key` goes to the keychain (NoKeychain when there is none:
        nothing is added then), `key_env` names a variable read at each run."""
        if api_key and key_env:
            raise RegistryError("give the API key one way: a stored key or --key-env VAR")
        entries = self.list()
        clean_url = normalise_url(url)
        taken = [e.name for e in entries]
        final_name = _check_name(name, taken) if name else default_name(clean_url, taken)
        key_ref = KeyRef(ENV, check_env_name(key_env)).to_text() if key_env else None
        entry = ServerEntry(
            name=final_name,
            url=clean_url,
            model=_text_or_none(model),
            key_ref=key_ref,
            allow_self_signed=allow_self_signed,
            slots=check_slots(slots),
            enabled=enabled,
        )
        if api_key:
            entry = replace(entry, key_ref=store_key(_account(entry), api_key).to_text())
        self._save([*entries, entry])
        return entry

    def update(
        self,
        server: str,
        /,
        *,
        api_key: str | None = None,
        key_env: str | None = None,
        forget_key: bool = False,
        **changes: Any,
    ) -> ServerEntry:
        """Change fields of a server (name, url, model, allow_self_signed, slots,
        enabled); a new `api_key` replaces the stored one, `key_env` switches to a
        variable, `forget_key` drops the key."""
        entries = self.list()
        old = self.get(server)
        unknown = set(changes) - {"name", "url", "model", "allow_self_signed", "slots", "enabled"}
        if unknown:
            raise RegistryError(f"a server has no field {', '.join(sorted(unknown))}")
        if "url" in changes:
            changes["url"] = normalise_url(str(changes["url"]))
        if "name" in changes:
            others = [e.name for e in entries if e.name != old.name]
            changes["name"] = _check_name(str(changes["name"]), others)
        if "slots" in changes:
            changes["slots"] = check_slots(changes["slots"])
        if "model" in changes:
            changes["model"] = _text_or_none(changes["model"])
        new = replace(old, **changes)
        if api_key:
            account = old.key.name if old.key and old.key.kind != ENV else _account(new)
            new = replace(new, key_ref=store_key(account, api_key).to_text())
        elif key_env:
            new = replace(new, key_ref=KeyRef(ENV, check_env_name(key_env)).to_text())
        elif forget_key:
            new = replace(new, key_ref=None)
        if old.key_ref and old.key_ref != new.key_ref:
            delete_key(old.key)
        self._save([new if e.name == old.name else e for e in entries])
        return new

    def set_enabled(self, name: str, enabled: bool) -> ServerEntry:
        return self.update(name, enabled=enabled)

    def remove(self, name: str) -> ServerEntry:
        """Remove a server and forget its stored key."""
        entries = self.list()
        old = self.get(name)
        self._save([e for e in entries if e.name != old.name])
        with suppress(KeyProblem):  # no keychain: nothing of it was stored there either
            delete_key(old.key)
        return old

    def _save(self, entries: Sequence[ServerEntry]) -> None:
        self._settings.set("inference_servers", [e.to_json() for e in entries])


def config_for(entry: ServerEntry, request_timeout_s: float | None = None) -> ServerConnection:
    """Everything a request to this server needs, its key resolved now (KeyProblem
    when it cannot be: the variable is unset, the keychain is gone)."""
    return ServerConnection(
        url=entry.url,
        name=entry.name,
        api_key=resolve_key(entry.name, entry.key),
        model=entry.model,
        allow_self_signed=entry.allow_self_signed,
        slots=entry.slots,
        request_timeout_s=request_timeout_s,
    )


def entries_from(stored: Iterable[Mapping[str, Any]]) -> list[ServerEntry]:
    """The entries of the stored list; one a hand edit broke is left out (its
    RegistryError is not worth stopping captioning for: it is shown where listed)."""
    found = []
    for data in stored:
        try:
            found.append(ServerEntry.from_json(data))
        except RegistryError:
            continue
    return found


def _check_name(name: str, taken: Iterable[str]) -> str:
    clean = name.strip()
    if not clean:
        raise RegistryError("a server needs a name")
    if any(ch in clean for ch in "\n\r\t"):
        raise RegistryError("a server name is one line of text")
    if clean.casefold() in {t.casefold() for t in taken}:
        raise RegistryError(f"there is already a server named {clean!r}")
    return clean


def _account(entry: ServerEntry) -> str:
    """The keychain account of a server's key: its name and address when the key was
    first stored (kept across renames: the entry's key_ref records it)."""
    return f"{entry.name} {entry.url}"
