"""The HTTP side of talking to a server: one pooled client per server, and every
failure turned into a ServerError whose problem tells the pool what to do.

httpx2 (huggingface-hub's HTTP client, the httpx API, already a dependency) with its
http2 extra: HTTP/2 is negotiated over TLS (ALPN) where the server offers it, plain
http stays HTTP/1.1. TLS is verified unless the user allowed a self-signed certificate
for this one server.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx2

from models.servers.backend import ServerError, ServerProblem
from models.servers.config import ServerConfig

# llama-server's chat-output parser failing on one answer (ENGINE-FACTS): a 500 for this
# request, not a broken server; retried once, then reported as a bad answer.
PARSER_FAILURE = "does not match the expected"
CONTEXT_WORDS = ("context", "n_ctx", "too long", "exceed")


def make_client(config: ServerConfig, slots: int) -> httpx2.Client:
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    try:
        import h2  # noqa: F401  # the http2 extra; without it, HTTP/1.1 only

        http2 = True
    except ImportError:
        http2 = False
    return httpx2.Client(
        base_url=config.base_url,
        headers=headers,
        timeout=httpx2.Timeout(
            config.request_timeout_s,
            connect=config.connect_timeout_s,
        ),
        limits=httpx2.Limits(max_connections=slots + 2, max_keepalive_connections=slots + 2),
        http2=http2,
        verify=not config.allow_self_signed,
        # The servers are the user's, named by URL: no proxy from the environment in
        # between (a loopback or LAN server behind HTTP_PROXY would fail).
        trust_env=False,
    )


def transport_error(server: str, exc: httpx2.TransportError) -> ServerError:
    if isinstance(exc, httpx2.ConnectTimeout):
        return ServerError(server, ServerProblem.DOWN, f"{server} did not accept a connection")
    if isinstance(exc, httpx2.TimeoutException):
        return ServerError(server, ServerProblem.TIMEOUT, f"{server} did not answer in time")
    reason = str(exc) or type(exc).__name__
    if "CERTIFICATE" in reason.upper():
        return ServerError(
            server,
            ServerProblem.DOWN,
            f"{server}'s TLS certificate is not trusted ({reason}); if it is your own "
            "self-signed certificate, allow it for this server",
        )
    if isinstance(exc, httpx2.ConnectError):
        return ServerError(server, ServerProblem.DOWN, f"{server} is not reachable ({reason})")
    return ServerError(server, ServerProblem.DOWN, f"the connection to {server} failed ({reason})")


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_text(body: str) -> str:
    """The server's own words: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data))
        if isinstance(error, dict):
            error = error.get("message", error)
        return str(error)[:300]
    return str(data)[:300]


def status_error(server: str, status: int, headers: httpx2.Headers, body: str) -> ServerError:
    said = error_text(body)
    if status in (401, 403):
        return ServerError(
            server,
            ServerProblem.AUTH,
            f"{server} refused the API key (HTTP {status}): set the right key for it",
        )
    if status in (429, 503):
        wait = retry_after(headers.get("retry-after"))
        return ServerError(
            server, ServerProblem.BUSY, f"{server} is busy (HTTP {status}): {said}", wait
        )
    if status >= 500:
        if PARSER_FAILURE in said:
            return ServerError(
                server,
                ServerProblem.BAD_ANSWER,
                f"{server} could not parse its model's answer (HTTP {status}): {said}",
            )
        return ServerError(server, ServerProblem.FAILED, f"{server} failed (HTTP {status}): {said}")
    if any(word in said.lower() for word in CONTEXT_WORDS):
        return ServerError(
            server,
            ServerProblem.REJECTED,
            f"the images do not fit the model's context on {server} (HTTP {status}: "
            f"{said}); use fewer keyframes or a smaller image size",
        )
    return ServerError(
        server, ServerProblem.REJECTED, f"{server} refused the request (HTTP {status}): {said}"
    )
