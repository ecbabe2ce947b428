"""Asking a server what it is: kind, models, parallel slots, vision, LoRA adapters and
latency, from the endpoints each implementation has:

- llama-server: `/props` with `total_slots` / `build_info`, `/lora-adapters`;
- Ollama: `/api/version`, `/api/show` (capabilities: "vision");
- vLLM: `/version`, and `/v1/models` entries owned by "vllm";
- llama-cpp-python: `/v1/models` entries owned by "me" (its server's constant);
- anything else answering `/v1/models`: a plain OpenAI-compatible server.
"""

from __future__ import annotations

import time
from typing import Any

import httpx2

from models.servers.backend import ServerError, ServerProblem
from models.servers.config import LoraAdapter, ServerConfig, ServerInfo, ServerKind
from models.servers.http import make_client, status_error, transport_error


class _Prober:
    def __init__(self, config: ServerConfig, client: httpx2.Client) -> None:
        self.config = config
        self.client = client

    def get(self, path: str, *, post: dict[str, Any] | None = None) -> Any | None:
        """The JSON at `path`; None when the server has no such endpoint (or no JSON).
        A refused key or a server that is not there raises."""
        name = self.config.name
        try:
            response = self.client.get(path) if post is None else self.client.post(path, json=post)
        except httpx2.TransportError as exc:
            raise transport_error(name, exc) from exc
        if response.status_code in (401, 403):
            raise status_error(name, response.status_code, response.headers, response.text)
        if response.status_code != 200:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    def latency_ms(self) -> float:
        started = time.perf_counter()
        health = self.get("/health")
        if health is None:  # no /health there: time the model list instead
            started = time.perf_counter()
            self.get("/v1/models")
        return (time.perf_counter() - started) * 1000


def health(config: ServerConfig) -> float:
    """A status light: the latency in ms of /health (else /v1/models). Raises
    ServerError (DOWN, TIMEOUT, AUTH; BUSY while a llama-server loads its model)."""
    with make_client(config, 1) as client:
        name = config.name
        for path in ("/health", "/v1/models"):
            started = time.perf_counter()
            try:
                response = client.get(path)
            except httpx2.TransportError as exc:
                raise transport_error(name, exc) from exc
            if response.status_code == 200:
                return (time.perf_counter() - started) * 1000
            if response.status_code != 404:
                raise status_error(name, response.status_code, response.headers, response.text)
    raise ServerError(name, ServerProblem.REJECTED, f"{name} has neither /health nor /v1/models")


def probe(config: ServerConfig) -> ServerInfo:
    """What the server is and serves. Raises ServerError (DOWN, AUTH, TIMEOUT, or
    REJECTED when it serves no model or not the configured one)."""
    with make_client(config, 1) as client:
        return _probe(_Prober(config, client))


def _probe(p: _Prober) -> ServerInfo:
    config, name = p.config, p.config.name
    latency = p.latency_ms()
    detail: dict[str, object] = {}
    props = p.get("/props")
    listing = p.get("/v1/models")
    entries = listing.get("data", []) if isinstance(listing, dict) else []
    models = tuple(str(e["id"]) for e in entries if isinstance(e, dict) and "id" in e)
    owners = {e.get("owned_by") for e in entries if isinstance(e, dict)}
    kind, version, vision, slots = ServerKind.OPENAI, None, None, None
    adapters: tuple[LoraAdapter, ...] = ()
    if isinstance(props, dict) and ("total_slots" in props or "build_info" in props):
        kind = ServerKind.LLAMA_SERVER
        version = props.get("build_info")
        slots = props.get("total_slots")
        modalities = props.get("modalities")
        if isinstance(modalities, dict) and "vision" in modalities:
            vision = bool(modalities["vision"])
        listed = p.get("/lora-adapters")
        if isinstance(listed, list):
            adapters = tuple(
                LoraAdapter(int(a["id"]), str(a.get("path", "")), float(a.get("scale", 0.0)))
                for a in listed
                if isinstance(a, dict) and "id" in a
            )
    elif isinstance(ollama := p.get("/api/version"), dict) and "version" in ollama:
        kind, version = ServerKind.OLLAMA, str(ollama["version"])
    elif "vllm" in owners:
        kind = ServerKind.VLLM
        said = p.get("/version")
        version = str(said["version"]) if isinstance(said, dict) and "version" in said else None
    elif "me" in owners:
        kind = ServerKind.LLAMA_CPP_PYTHON
    if not models:
        if listing is None:
            raise ServerError(
                name,
                ServerProblem.REJECTED,
                f"{name} at {config.base_url} does not speak the OpenAI API (no /v1/models)",
            )
        raise ServerError(name, ServerProblem.REJECTED, f"{name} serves no model")
    if config.model is not None and config.model not in models:
        raise ServerError(
            name,
            ServerProblem.REJECTED,
            f"{name} does not serve {config.model!r}; it serves {', '.join(models)}",
        )
    model = config.model or models[0]
    if kind == ServerKind.OLLAMA:
        shown = p.get("/api/show", post={"model": model})
        capabilities = shown.get("capabilities") if isinstance(shown, dict) else None
        if isinstance(capabilities, list):
            vision = "vision" in capabilities
    if not isinstance(slots, int) or slots < 1:
        slots = config.slots or 1
    elif config.slots is not None:
        slots = min(slots, config.slots)  # the user may keep some slots for others
    detail["owned_by"] = sorted(str(o) for o in owners if o)
    return ServerInfo(
        kind=kind,
        models=models,
        model=model,
        slots=slots,
        vision=vision,
        lora_adapters=adapters,
        latency_ms=latency,
        version=str(version) if version is not None else None,
        detail=detail,
    )
