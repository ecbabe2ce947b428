"""The same client against a second, independent implementation: llama-cpp-python's
own OpenAI-compatible server (chat_format=mtmd), so the dialect handling is not tuned
to llama-server alone. Its dialect: `response_format` `json_object` + `schema`."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.prompts import AnswerLimits, builtin_prompts
from models.runtime import Sampling
from models.servers.backend import ServerError, ServerProblem
from models.servers.client import ServerBackend, ServerConfig, ServerKind, probe
from tests.servers.conftest import RunningServer, photo_jpeg

GREEDY = Sampling(temperature=0.0, limits=AnswerLimits(caption_chars=60, max_tags=3))
SHORT = builtin_prompts()["short"]


def config_for(server: RunningServer, key: str | None = "python-key") -> ServerConfig:
    return ServerConfig(url=server.url + "/v1", name="python-box", api_key=key)


def test_probe_detects_llama_cpp_python(python_server: RunningServer) -> None:
    info = probe(config_for(python_server))
    assert info.kind == ServerKind.LLAMA_CPP_PYTHON
    assert info.slots == 1  # it says nothing: one at a time
    assert info.models and Path(info.model).name == "model.gguf"
    assert info.lora_adapters == ()


def test_a_photo_and_a_video_are_captioned(python_server: RunningServer) -> None:
    config = config_for(python_server)
    backend = ServerBackend(config, probe(config))
    try:
        photo = backend.caption([photo_jpeg("coffee")], SHORT, sampling=GREEDY)
        assert photo.answer.caption and len(photo.answer.caption) <= 60
        assert len(photo.answer.tags) <= 3
        frames = [photo_jpeg(n, 64) for n in ("astronaut", "coffee")]
        video = backend.caption(frames, SHORT, timestamps=[0.0, 1.5], sampling=GREEDY)
        assert len(video.answer.moments) == 2 and video.answer.complete
    finally:
        backend.close()


def test_a_wrong_key_is_auth(python_server: RunningServer) -> None:
    with pytest.raises(ServerError) as raised:
        probe(config_for(python_server, key="nope"))
    assert raised.value.problem == ServerProblem.AUTH
