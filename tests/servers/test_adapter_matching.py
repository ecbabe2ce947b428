"""Which of a llama-server's loaded LoRA adapters is the app's active adapter: the one
whose path carries the adapter's ID (its data-folder directory, or the file renamed
`<ID>.gguf`), asked for per request; other kinds of server never claim one."""

from __future__ import annotations

from models.servers.client import ServerBackend
from models.servers.config import LoraAdapter, ServerConfig, ServerInfo, ServerKind

LOADED = (
    LoraAdapter(0, "/srv/captionist/adapters/2026-11-30-a1b2/adapter.gguf", 1.0),
    LoraAdapter(1, "/srv/other/2026-12-01-c3d4.gguf", 1.0),
)


def backend(kind: str) -> ServerBackend:
    info = ServerInfo(kind, ("m",), "m", 2, True, lora_adapters=LOADED)
    return ServerBackend(ServerConfig("http://127.0.0.1:9", "gpu-box"), info)


def test_the_adapter_is_found_by_its_id_in_the_path() -> None:
    server = backend(ServerKind.LLAMA_SERVER)
    assert server.supports_adapter("2026-11-30-a1b2")
    assert server.supports_adapter("2026-12-01-c3d4")
    assert not server.supports_adapter("2026-12-02-ffff")
    assert server._lora_scales(server._loaded_lora("2026-12-01-c3d4")) == {0: 0.0, 1: 1.0}
    assert server._lora_scales(None) == {0: 0.0, 1: 0.0}  # loaded ones off unless asked
    server.close()


def test_servers_without_per_request_adapters_never_claim_one() -> None:
    for kind in (ServerKind.VLLM, ServerKind.OLLAMA, ServerKind.LLAMA_CPP_PYTHON):
        server = backend(kind)
        assert not server.supports_adapter("2026-11-30-a1b2")
        server.close()
