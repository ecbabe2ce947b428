"""The server client against a real llama.cpp llama-server on loopback (tiny SmolVLM)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path

import pytest

from app.core.captioning.prepare import ModelInput, prepare
from models.prompts import TAG_MAX_CHARS, AnswerLimits, builtin_prompts
from models.runtime import Cancelled, Sampling
from models.servers import client
from models.servers.backend import ServerError, ServerProblem
from models.servers.client import ServerBackend, ServerConfig, ServerKind, probe
from models.servers.dialects import REPLACEMENT
from tests.media_factory import write_photo, write_video
from tests.models.test_finetune_adapter_check import SMOL_TARGETS, lora_tensors, write_adapter
from tests.servers.conftest import StartLlamaServer, photo_jpeg

LIMITS = AnswerLimits(caption_chars=60, max_tags=3)
GREEDY = Sampling(temperature=0.0, limits=LIMITS)
SHORT = builtin_prompts()["short"]


def config_for(url: str, **kw: object) -> ServerConfig:
    return ServerConfig(url=url, name="gpu-box", **kw)  # type: ignore[arg-type]


def prepared(tmp_path: Path, kind: str, path: Path, item_id: int = 1) -> ModelInput:
    return prepare(
        item_id,
        bytes(path),
        kind,
        thumbnails=tmp_path / "thumbs",
        max_side=128,
        max_keyframes=4,
        with_exif_context=True,
    )


def test_probe_reads_kind_slots_model_and_vision(llama_server: StartLlamaServer) -> None:
    server = llama_server(parallel=2)
    info = probe(config_for(server.url))
    assert info.kind == ServerKind.LLAMA_SERVER
    assert info.slots == 2
    assert len(info.models) == 1 and info.model == info.models[0]
    assert "model" in info.model or info.model.endswith(".gguf")
    assert info.vision is True
    assert info.lora_adapters == ()
    assert info.version  # build_info
    assert 0 < info.latency_ms < 5000
    assert 0 < client.health(config_for(server.url)) < 5000
    # The user may keep slots for others; never more than the server has.
    assert probe(config_for(server.url, slots=1)).slots == 1
    assert probe(config_for(server.url, slots=8)).slots == 2


def test_photos_are_captioned_within_the_schema(
    llama_server: StartLlamaServer, tmp_path: Path
) -> None:
    server = llama_server()
    config = config_for(server.url)
    backend = ServerBackend(config, probe(config))
    try:
        for i, name in enumerate(("astronaut", "coffee", "chelsea"), start=1):
            photo = write_photo(tmp_path / f"{name}.jpg", name, exif_datetime="2024:05:03 10:00:00")
            item = prepared(tmp_path, "photo", photo, i)
            result = backend.caption(
                item.images, SHORT, exif_context=item.exif_context, sampling=GREEDY
            )
            answer = result.answer
            assert answer.caption and answer.complete
            # Random weights emit invalid UTF-8: one grammar character, one U+FFFD a byte.
            assert len(answer.caption.replace(REPLACEMENT, "")) <= LIMITS.caption_chars
            assert len(answer.tags) <= LIMITS.max_tags
            assert all(len(t.replace(REPLACEMENT, "")) <= TAG_MAX_CHARS for t in answer.tags)
            assert result.prompt_tokens > 0 and result.completion_tokens > 0
            assert result.seconds > 0
    finally:
        backend.close()


def test_a_video_gets_one_moment_per_keyframe(
    llama_server: StartLlamaServer, tmp_path: Path
) -> None:
    server = llama_server()
    config = config_for(server.url)
    video = write_video(tmp_path / "clip.avi", seconds=3.0, cuts=(1.0, 2.0))
    item = prepared(tmp_path, "video", video)
    assert item.timestamps is not None and len(item.images) >= 2
    backend = ServerBackend(config, probe(config))
    try:
        result = backend.caption(item.images, SHORT, timestamps=item.timestamps, sampling=GREEDY)
    finally:
        backend.close()
    assert len(result.answer.moments) == len(item.images)
    assert result.answer.complete


def test_slots_caption_in_parallel(llama_server: StartLlamaServer) -> None:
    server = llama_server(parallel=2)
    config = config_for(server.url)
    backend = ServerBackend(config, probe(config))
    results: list[object] = []

    def one(name: str) -> None:
        try:
            results.append(backend.caption([photo_jpeg(name)], SHORT, sampling=GREEDY))
        except Exception as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in ("astronaut", "coffee")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    backend.close()
    assert len(results) == 2
    assert all(not isinstance(r, Exception) for r in results), results


def test_the_api_key_is_required_and_checked(llama_server: StartLlamaServer) -> None:
    server = llama_server(api_key="sesame")
    info = probe(config_for(server.url, api_key="sesame"))
    assert info.kind == ServerKind.LLAMA_SERVER
    for key in (None, "wrong"):
        with pytest.raises(ServerError) as raised:
            probe(config_for(server.url, api_key=key))
        assert raised.value.problem == ServerProblem.AUTH
        assert raised.value.server_fault and "gpu-box" in str(raised.value)
    backend = ServerBackend(config_for(server.url, api_key="wrong"), info)
    try:
        with pytest.raises(ServerError) as raised:
            backend.caption([photo_jpeg()], SHORT, sampling=GREEDY)
        assert raised.value.problem == ServerProblem.AUTH
    finally:
        backend.close()
    right = ServerBackend(config_for(server.url, api_key="sesame"), info)
    try:
        assert right.caption([photo_jpeg()], SHORT, sampling=GREEDY).answer.caption
    finally:
        right.close()


def test_a_stopped_server_is_down(llama_server: StartLlamaServer) -> None:
    server = llama_server()
    config = config_for(server.url)
    backend = ServerBackend(config, probe(config))
    server.stop()
    try:
        with pytest.raises(ServerError) as raised:
            backend.caption([photo_jpeg()], SHORT, sampling=GREEDY)
    finally:
        backend.close()
    assert raised.value.problem == ServerProblem.DOWN and raised.value.server_fault
    with pytest.raises(ServerError) as probed:
        probe(config)
    assert probed.value.problem == ServerProblem.DOWN
    with pytest.raises(ServerError) as checked:
        client.health(config)
    assert checked.value.problem == ServerProblem.DOWN


def test_cancel_closes_the_request_and_the_server_stops_generating(
    llama_server: StartLlamaServer,
) -> None:
    server = llama_server(parallel=1)
    config = config_for(server.url)
    backend = ServerBackend(config, probe(config))
    long = Sampling(limits=AnswerLimits(caption_chars=3000, max_tags=10))
    polls = itertools.count()
    try:
        with pytest.raises(Cancelled):
            backend.caption(
                [photo_jpeg()], SHORT, sampling=long, should_stop=lambda: next(polls) > 3
            )
        # llama-server saw the connection close and cancelled the task.
        deadline = time.monotonic() + 5
        while "cancel task" not in server.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "cancel task" in server.log.read_text(), server.log_tail()
        assert backend.caption([photo_jpeg()], SHORT, sampling=GREEDY).answer.caption
    finally:
        backend.close()


def test_a_lora_adapter_is_applied_per_request(
    llama_server: StartLlamaServer, tmp_path: Path
) -> None:
    from tests.models.conftest import fixture_pair

    model, _ = fixture_pair("smolvlm")
    adapter = write_adapter(tmp_path / "mine.gguf", "llama", lora_tensors(model, SMOL_TARGETS))
    server = llama_server(lora=[adapter])
    config = config_for(server.url)
    info = probe(config)
    assert [a.id for a in info.lora_adapters] == [0]
    assert info.lora_adapters[0].path.endswith("mine.gguf")
    photo = photo_jpeg("coffee")
    plain = ServerBackend(config, info)  # every loaded adapter sent at scale 0
    tuned = ServerBackend(config, info, lora_id=0, lora_scale=50.0)
    missing = ServerBackend(config, info, lora_id=7)
    try:
        assert not plain.lora_applied and tuned.lora_applied and not missing.lora_applied
        without = plain.caption([photo], SHORT, sampling=GREEDY).answer
        with_adapter = tuned.caption([photo], SHORT, sampling=GREEDY).answer
        assert with_adapter != without  # llama-server applied it to this request only
        assert plain.caption([photo], SHORT, sampling=GREEDY).answer == without
        assert missing.caption([photo], SHORT, sampling=GREEDY).answer == without
    finally:
        for b in (plain, tuned, missing):
            b.close()


def test_the_settings_test_button_helper(llama_server: StartLlamaServer) -> None:
    server = llama_server()
    answer, seconds = client.test_caption(config_for(server.url), photo_jpeg())
    assert answer.caption and seconds > 0
    assert json.dumps(answer.tags)  # plain strings
