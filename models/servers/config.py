"""What the app knows about one inference server: what the user entered (ServerConfig)
and what the server said about itself when probed (ServerInfo)."""

from __future__ import annotations

from dataclasses import dataclass, field


class ServerKind:
    """Which implementation answers: the dialect of its OpenAI-compatible API."""

    LLAMA_SERVER = "llama-server"  # llama.cpp's tools/server
    LLAMA_CPP_PYTHON = "llama-cpp-python"  # python -m llama_cpp.server
    VLLM = "vllm"
    OLLAMA = "ollama"
    OPENAI = "openai"  # anything else that speaks /v1/chat/completions


@dataclass(frozen=True)
class ServerConfig:
    url: str  # the base URL, without /v1 (e.g. http://gpu-box:8080)
    name: str  # for the user, the activity panel and the caption's provenance
    api_key: str | None = None  # sent as "Authorization: Bearer"
    model: str | None = None  # the model name to request; None: the server's first
    allow_self_signed: bool = False  # TLS unverified, for this server only
    slots: int | None = None  # parallel requests; None: what the server says (or 1)
    request_timeout_s: float = 120.0  # no byte of an answer for this long: TIMEOUT
    connect_timeout_s: float = 10.0

    @property
    def base_url(self) -> str:
        url = self.url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url


@dataclass(frozen=True)
class LoraAdapter:
    """A LoRA adapter loaded on a llama-server (`--lora`), listed by GET /lora-adapters."""

    id: int
    path: str
    scale: float  # its global scale; a request may set its own (ServerBackend.lora_id)


@dataclass(frozen=True)
class ServerInfo:
    kind: str  # a ServerKind value
    models: tuple[str, ...]  # what /v1/models lists
    model: str  # the name requested: the config's, else the first listed
    slots: int  # /props total_slots (llama-server), else the config's, else 1
    vision: bool | None  # None: the server does not say
    lora_adapters: tuple[LoraAdapter, ...] = ()
    latency_ms: float = 0.0  # one small request (/health, else /v1/models)
    version: str | None = None  # llama-server build_info, vLLM/Ollama version
    detail: dict[str, object] = field(default_factory=dict, compare=False)
