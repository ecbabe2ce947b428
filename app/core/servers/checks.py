"""Testing a server from the settings screen and `captionist servers test`: is it
there, what does it serve, and how long does one real caption take.

The HTTP work is done by models.servers.client (`probe`, `test_caption`), imported only
when a check runs. Callers get it through `ServerChecks`, so tests hand in a named
double and the check's words stay the same whichever client answers.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from app.core.servers.keychain import KeyProblem
from app.core.servers.registry import ServerConnection, ServerEntry, config_for
from models.runtime import EngineError

if TYPE_CHECKING:
    from models.servers.config import ServerConfig

UNKNOWN, OK, UNHEALTHY = "unknown", "ok", "unhealthy"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What the probe read (the fields of models.servers.client.ServerInfo)."""

    kind: str  # "llama-server", "vllm", "ollama", "openai"…
    models: list[str] = field(default_factory=list)
    slots: int | None = None
    vision: bool | None = None
    loras: list[str] = field(default_factory=list)
    latency_ms: float | None = None


class ServerChecks(Protocol):
    def probe(self, connection: ServerConnection) -> ProbeResult: ...

    def test_caption(self, connection: ServerConnection, jpeg: bytes) -> tuple[str, float]:
        """One real caption of `jpeg`: (the answer, seconds it took)."""
        ...


class ClientChecks:
    """The real checks, through models.servers.client (imported here only: the
    settings screen should not pay for the HTTP client until a check runs)."""

    def probe(self, connection: ServerConnection) -> ProbeResult:
        from models.servers import client

        info = client.probe(client_config(connection))
        return ProbeResult(
            kind=info.kind,
            models=list(info.models),
            slots=info.slots,
            vision=info.vision,
            loras=[os.path.basename(a.path) for a in info.lora_adapters],
            latency_ms=info.latency_ms,
        )

    def test_caption(self, connection: ServerConnection, jpeg: bytes) -> tuple[str, float]:
        from models.servers import client

        answer, seconds = client.test_caption(client_config(connection), jpeg)
        return answer.caption, seconds


def client_config(connection: ServerConnection) -> ServerConfig:
    """The client's settings for a server as the registry resolved it (key looked up)."""
    from models.servers.client import ServerConfig

    timeout = (
        {}
        if connection.request_timeout_s is None
        else {"request_timeout_s": connection.request_timeout_s}
    )
    return ServerConfig(
        url=connection.url,
        name=connection.name,
        api_key=connection.api_key,
        model=connection.model,
        allow_self_signed=connection.allow_self_signed,
        slots=connection.slots,
        **timeout,
    )


_installed: ServerChecks | None = None


def install_checks(checks: ServerChecks | None) -> ServerChecks | None:
    """Use `checks` instead of the real client (tests); None goes back to the client.
    Returns what was installed before."""
    global _installed
    previous, _installed = _installed, checks
    return previous


def current_checks() -> ServerChecks:
    return _installed if _installed is not None else ClientChecks()


@dataclass(frozen=True, slots=True)
class CheckReport:
    """One server's test, for a status light and a line of output."""

    name: str
    status: str  # OK or UNHEALTHY
    probe: ProbeResult | None = None
    caption: str | None = None
    seconds: float | None = None  # the test caption's time per photo
    error: str | None = None  # a sentence naming the server and what was wrong

    @property
    def latency_ms(self) -> float | None:
        return self.probe.latency_ms if self.probe else None

    def summary(self) -> str:
        if self.error:
            return self.error
        parts = [self.probe.kind if self.probe else "server"]
        if self.latency_ms is not None:
            parts.append(f"{self.latency_ms:.0f} ms")
        if self.probe and self.probe.slots:
            parts.append(f"{self.probe.slots} slots")
        if self.seconds is not None:
            parts.append(f"{self.seconds:.1f} s per photo")
        return " · ".join(parts)

    def to_json(self) -> dict[str, Any]:
        probe = self.probe
        return {
            "name": self.name,
            "status": self.status,
            "kind": probe.kind if probe else None,
            "models": probe.models if probe else [],
            "slots": probe.slots if probe else None,
            "vision": probe.vision if probe else None,
            "loras": probe.loras if probe else [],
            "latency_ms": self.latency_ms,
            "caption": self.caption,
            "seconds_per_photo": self.seconds,
            "error": self.error,
        }


def check_server(
    entry: ServerEntry,
    jpeg: bytes | None = None,
    checks: ServerChecks | None = None,
    *,
    connect: Callable[[ServerEntry], ServerConnection] = config_for,
) -> CheckReport:
    """Probe the server, then (with `jpeg`) caption it once. Never raises for what the
    user can fix: the report carries the sentence."""
    use = checks or current_checks()
    try:
        connection = connect(entry)
        probe = use.probe(connection)
    except (KeyProblem, EngineError) as exc:
        return CheckReport(entry.name, UNHEALTHY, error=_sentence(entry, exc))
    if jpeg is None:
        return CheckReport(entry.name, OK, probe=probe)
    if probe.vision is False:
        return CheckReport(
            entry.name,
            UNHEALTHY,
            probe=probe,
            error=f"{entry.name} answers, but its model cannot see images: start it with "
            "a vision model (and its --mmproj).",
        )
    started = time.perf_counter()
    try:
        answer, seconds = use.test_caption(connection, jpeg)
    except EngineError as exc:
        return CheckReport(entry.name, UNHEALTHY, probe=probe, error=_sentence(entry, exc))
    return CheckReport(
        entry.name,
        OK,
        probe=probe,
        caption=answer,
        seconds=seconds if seconds else time.perf_counter() - started,
    )


def _sentence(entry: ServerEntry, exc: Exception) -> str:
    text = str(exc) or exc.__class__.__name__
    return text if entry.name in text else f"{entry.name}: {text}"


def sample_jpeg(side: int = 384) -> bytes:
    """A photo-like test picture (sky, sea, sand, a red ball) to caption once: made
    here, so no photo of the user's leaves the machine for a test."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (side, side * 3 // 4), (120, 170, 230))
    draw = ImageDraw.Draw(image)
    width, height = image.size
    draw.rectangle((0, height * 45 // 100, width, height * 70 // 100), fill=(30, 90, 160))
    draw.rectangle((0, height * 70 // 100, width, height), fill=(225, 200, 150))
    r = side // 10
    cx, cy = width * 2 // 3, height * 80 // 100
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(210, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()
