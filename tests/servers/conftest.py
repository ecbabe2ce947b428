"""Real inference servers on loopback for the server-client tests (issue 13).

- `llama_server`: a factory starting llama.cpp's `llama-server` (built once by
  packaging/llama_server.py, cached in ~/.cache/captionist-ci) with a tiny test model.
  Without the binary the tests skip saying so, or fail when
  CAPTIONIST_REQUIRE_LLAMA_SERVER=1 (the CI: a broken build must not pass unnoticed).
- `python_server`: llama-cpp-python's own server (`python -m llama_cpp.server`,
  `chat_format=mtmd`), a second independent implementation, from the dev extra.

Every server listens on 127.0.0.1 only and is killed at teardown.
"""

from __future__ import annotations

import importlib.util
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from PIL import Image

from tests.media_factory import real_photo
from tests.models.conftest import fixture_pair

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90


def _llama_server_module() -> object:
    # packaging/ is not a package (and `packaging` is also a PyPI distribution's name).
    spec = importlib.util.spec_from_file_location(
        "captionist_llama_server", ROOT / "packaging" / "llama_server.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def llama_server_binary() -> Path:
    module = _llama_server_module()
    found = module.find_server()  # type: ignore[attr-defined]
    if found is None:
        reason = (
            "llama-server is not built: run `python packaging/llama_server.py` (or "
            "`python3 packaging/setup_env.py test`, which builds it)"
        )
        if os.environ.get("CAPTIONIST_REQUIRE_LLAMA_SERVER") == "1":
            pytest.fail(reason + " — CAPTIONIST_REQUIRE_LLAMA_SERVER=1 forbids skipping")
        pytest.skip(reason)
    return Path(found)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    api_key: str | None = None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])


def start(command: Sequence[str], url: str, log: Path, ready_path: str) -> RunningServer:
    out = log.open("wb")
    process = subprocess.Popen(list(command), stdout=out, stderr=subprocess.STDOUT)
    out.close()
    server = RunningServer(url, process, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"{command[0]} exited ({process.returncode}):\n{server.log_tail()}"
            )
        try:
            if httpx2.get(url + ready_path, timeout=2, trust_env=False).status_code == 200:
                return server
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(
        f"{command[0]} did not get ready in {START_TIMEOUT_S} s:\n{server.log_tail()}"
    )


StartLlamaServer = Callable[..., RunningServer]


def server_command(
    binary: Path, model: str, port: int, *, parallel: int = 2, threads: int = 1
) -> list[str]:
    """llama-server on 127.0.0.1:`port` with a tiny test model (also the benchmark's)."""
    gguf, mmproj = fixture_pair(model)
    return [
        str(binary), "-m", str(gguf), "--mmproj", str(mmproj),
        "--parallel", str(parallel), "-c", str(4096 * parallel),
        "--host", "127.0.0.1", "--port", str(port),
        # The chat-output parser's 500s with random weights (ENGINE-FACTS).
        "--no-jinja", "-t", str(threads), "--seed", "0",
    ]  # fmt: skip


@pytest.fixture
def llama_server(tmp_path: Path) -> Iterator[StartLlamaServer]:
    """start(model="smolvlm", parallel=2, api_key=None, lora=(), extra=()) -> server."""
    binary = llama_server_binary()
    running: list[RunningServer] = []

    def start_llama_server(
        model: str = "smolvlm",
        *,
        parallel: int = 2,
        api_key: str | None = None,
        lora: Sequence[Path] = (),
        extra: Sequence[str] = (),
    ) -> RunningServer:
        port = free_port()
        command = server_command(binary, model, port, parallel=parallel)
        for adapter in lora:
            command += ["--lora", str(adapter)]
        if api_key:
            command += ["--api-key", api_key]
        command += list(extra)
        log = tmp_path / f"llama-server-{port}.log"
        server = start(command, f"http://127.0.0.1:{port}", log, "/health")
        server.api_key = api_key
        running.append(server)
        return server

    yield start_llama_server
    for server in running:
        server.stop()


@pytest.fixture(scope="module")
def python_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """llama-cpp-python's server with the tiny SmolVLM, api key "python-key"."""
    pytest.importorskip("uvicorn", reason="the dev extra installs llama-cpp-python[server]")
    gguf, mmproj = fixture_pair("smolvlm")
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf), "--clip_model_path", str(mmproj), "--chat_format", "mtmd",
        "--n_ctx", "4096", "--n_threads", "1", "--seed", "0",
        "--host", "127.0.0.1", "--port", str(port), "--api_key", "python-key",
    ]  # fmt: skip
    log = tmp_path_factory.mktemp("python-server") / "server.log"
    server = start(command, f"http://127.0.0.1:{port}", log, "/docs")
    server.api_key = "python-key"
    yield server
    server.stop()


def photo_jpeg(name: str = "astronaut", side: int = 128) -> bytes:
    image = Image.fromarray(real_photo(name))
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
