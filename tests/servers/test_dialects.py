"""vLLM's and Ollama's request/response shapes, and the mapping of every failure to a
ServerError, against OpenAIServerDouble (tests/servers/server_double.py): a scripted
loopback HTTP server standing in for servers that cannot run here.

The shapes follow the servers' documentation: vLLM (OpenAI-compatible server:
`/version`, `/v1/models` entries owned by "vllm", `repetition_penalty` as an extra
parameter, `response_format` json_schema), Ollama (`/api/version`, `/api/show`
capabilities, `/v1` OpenAI compatibility with `response_format` json_schema since
0.5, no repeat penalty there).
"""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from models.prompts import TAG_MAX_CHARS, AnswerLimits, builtin_prompts
from models.runtime import Sampling
from models.servers.backend import ServerError, ServerProblem
from models.servers.client import ServerBackend, ServerConfig, ServerKind, health, probe
from models.servers.dialects import dialect_for, schema_violations, server_schema
from tests.servers.server_double import OpenAIServerDouble, Reply, chunk, streamed, whole

SAMPLING = Sampling(
    temperature=0.3, top_p=0.8, repeat_penalty=1.3, limits=AnswerLimits(80, max_tags=3)
)
SHORT = builtin_prompts()["short"]
GOOD = json.dumps({"caption": "A dog on a beach.", "tags": ["dog", "beach"], "language": "English"})
USAGE = {"prompt_tokens": 120, "completion_tokens": 17, "total_tokens": 137}

VLLM_ROUTES = {
    "GET /health": {},
    "GET /version": {"version": "0.11.0"},
    "GET /v1/models": {
        "object": "list",
        "data": [
            {
                "id": "Qwen/Qwen2.5-VL-3B-Instruct",
                "object": "model",
                "created": 1,
                "owned_by": "vllm",
                "root": "Qwen/Qwen2.5-VL-3B-Instruct",
                "max_model_len": 32768,
            }
        ],
    },
}
OLLAMA_ROUTES = {
    "GET /api/version": {"version": "0.12.3"},
    "GET /v1/models": {
        "object": "list",
        "data": [
            {"id": "llama3.2:1b", "object": "model", "created": 1, "owned_by": "library"},
            {"id": "qwen2.5vl:3b", "object": "model", "created": 1, "owned_by": "library"},
        ],
    },
    "POST /api/show": {"capabilities": ["completion", "vision"], "details": {"family": "qwen25vl"}},
}


@pytest.fixture
def vllm() -> Iterator[OpenAIServerDouble]:
    with OpenAIServerDouble(VLLM_ROUTES).running() as double:
        yield double


def backend_for(double: OpenAIServerDouble, **config: Any) -> ServerBackend:
    cfg = ServerConfig(url=double.url, name="double", **config)
    return ServerBackend(cfg, probe(cfg))


def caption(double: OpenAIServerDouble, replies: list[Reply], **kw: Any) -> Any:
    double.replies = replies
    backend = backend_for(double, **kw)
    try:
        return backend.caption([b"\xff\xd8jpeg"], SHORT, sampling=SAMPLING)
    finally:
        backend.close()


def failure(double: OpenAIServerDouble, replies: list[Reply], **kw: Any) -> ServerError:
    with pytest.raises(ServerError) as raised:
        caption(double, replies, **kw)
    assert "double" in str(raised.value)  # names the server
    return raised.value


def test_vllm_is_detected_and_asked_in_its_dialect(vllm: OpenAIServerDouble) -> None:
    info = probe(ServerConfig(url=vllm.url + "/v1/", name="double", slots=4))
    assert info.kind == ServerKind.VLLM and info.version == "0.11.0"
    assert info.models == ("Qwen/Qwen2.5-VL-3B-Instruct",) and info.slots == 4
    result = caption(vllm, [streamed(GOOD, USAGE)], api_key="k")
    assert result.answer.caption == "A dog on a beach." and result.answer.tags == ["dog", "beach"]
    assert (result.prompt_tokens, result.completion_tokens) == (120, 17)
    body = vllm.requests[0]
    assert vllm.headers[0]["Authorization"] == "Bearer k"
    assert body["model"] == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert body["repetition_penalty"] == 1.3 and "repeat_penalty" not in body
    assert body["temperature"] == 0.3 and body["top_p"] == 0.8
    assert body["max_tokens"] == SAMPLING.limits.max_tokens(0)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "lora" not in body
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "caption"
    schema = fmt["json_schema"]["schema"]
    assert schema == server_schema(SAMPLING.limits)
    assert schema["properties"]["caption"]["maxLength"] == 80
    assert schema["properties"]["tags"]["maxItems"] == 3
    assert schema["properties"]["tags"]["items"]["maxLength"] == TAG_MAX_CHARS
    content = body["messages"][0]["content"]
    assert content[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert content[-1]["type"] == "text"


def test_ollama_is_detected_and_asked_in_its_dialect() -> None:
    with OpenAIServerDouble(OLLAMA_ROUTES).running() as ollama:
        cfg = ServerConfig(url=ollama.url, name="double", model="qwen2.5vl:3b")
        info = probe(cfg)
        assert info.kind == ServerKind.OLLAMA and info.version == "0.12.3"
        assert info.model == "qwen2.5vl:3b" and info.vision is True and info.slots == 1
        result = caption(ollama, [streamed(GOOD, USAGE)], model="qwen2.5vl:3b")
        body = ollama.requests[0]
    assert result.answer.language == "English"
    assert body["model"] == "qwen2.5vl:3b"
    assert "repeat_penalty" not in body and "repetition_penalty" not in body
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == [
        "caption",
        "tags",
        "language",
    ]


def test_health_falls_back_to_the_model_list() -> None:
    with OpenAIServerDouble(OLLAMA_ROUTES).running() as ollama:  # Ollama has no /health
        assert health(ServerConfig(url=ollama.url, name="double")) > 0
    with OpenAIServerDouble({}).running() as nothing, pytest.raises(ServerError) as raised:
        health(ServerConfig(url=nothing.url, name="double"))
    assert raised.value.problem == ServerProblem.REJECTED


def test_a_model_the_server_does_not_serve_is_rejected() -> None:
    with (
        OpenAIServerDouble(OLLAMA_ROUTES).running() as ollama,
        pytest.raises(ServerError) as raised,
    ):
        probe(ServerConfig(url=ollama.url, name="double", model="llava:7b"))
    assert raised.value.problem == ServerProblem.REJECTED
    assert "qwen2.5vl:3b" in str(raised.value)


def test_llama_cpp_python_gets_json_object_with_schema() -> None:
    fmt = dialect_for(ServerKind.LLAMA_CPP_PYTHON).response_format({"type": "object"})
    assert fmt == {"type": "json_object", "schema": {"type": "object"}}
    body = dialect_for(ServerKind.LLAMA_SERVER).body(
        model="m", messages=[], sampling=SAMPLING, moments=3, lora={0: 0.0, 1: 0.5}
    )
    assert body["lora"] == [{"id": 0, "scale": 0.0}, {"id": 1, "scale": 0.5}]
    assert body["repeat_penalty"] == 1.3
    moments = body["response_format"]["json_schema"]["schema"]["properties"]["moments"]
    assert moments["minItems"] == moments["maxItems"] == 3


def test_a_non_streamed_answer_is_read_too(vllm: OpenAIServerDouble) -> None:
    result = caption(vllm, [whole(GOOD, USAGE)])
    assert result.answer.caption == "A dog on a beach." and result.completion_tokens == 17


def test_busy_with_retry_after(vllm: OpenAIServerDouble) -> None:
    error = failure(
        vllm, [Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "7"})]
    )
    assert error.problem == ServerProblem.BUSY and error.retry_after == 7.0
    assert error.server_fault and "slow down" in error.message
    error = failure(vllm, [Reply(503, {"error": {"message": "Loading model"}})])
    assert error.problem == ServerProblem.BUSY and error.retry_after is None


def test_server_errors_and_auth(vllm: OpenAIServerDouble) -> None:
    error = failure(vllm, [Reply(500, {"error": {"message": "CUDA out of memory"}})])
    assert error.problem == ServerProblem.FAILED and "CUDA out of memory" in error.message
    assert len(vllm.requests) == 1  # a failed server is not retried here: the pool decides
    error = failure(vllm, [Reply(401, {"error": {"message": "Invalid API Key"}})])
    assert error.problem == ServerProblem.AUTH and error.server_fault
    error = failure(
        vllm,
        [Reply(400, {"error": {"message": "This model's maximum context length is 4096 tokens"}})],
    )
    assert error.problem == ServerProblem.REJECTED and not error.server_fault
    assert "context" in error.message


def test_the_llama_server_parser_500_is_retried_once(vllm: OpenAIServerDouble) -> None:
    peg = Reply(500, {"error": {"code": 500, "message": "The model produced output that does "
                                 "not match the expected peg-native format"}})  # fmt: skip
    assert caption(vllm, [peg, streamed(GOOD)]).answer.caption == "A dog on a beach."
    vllm.requests.clear()
    error = failure(vllm, [peg, peg])
    assert error.problem == ServerProblem.BAD_ANSWER and not error.server_fault
    assert len(vllm.requests) == 2 and "peg-native" in error.message


def test_invalid_and_schema_breaking_answers_are_retried_then_refused(
    vllm: OpenAIServerDouble,
) -> None:
    too_many = json.dumps({"caption": "x", "tags": ["a", "b", "c", "d"], "language": "en"})
    assert caption(vllm, [streamed("not json {"), streamed(GOOD)]).answer.tags == ["dog", "beach"]
    vllm.requests.clear()
    error = failure(vllm, [streamed("not json {"), streamed(too_many)])
    assert error.problem == ServerProblem.BAD_ANSWER and len(vllm.requests) == 2
    assert "4 tags (at most 3)" in error.message  # says what was wrong
    long_caption = json.dumps({"caption": "y" * 81, "tags": [], "language": "en"})
    error = failure(vllm, [whole(long_caption), whole(json.dumps(["a list"]))])
    assert "not a JSON object" in error.message


def test_a_cut_off_answer_is_not_stored(vllm: OpenAIServerDouble) -> None:
    cut = Reply(events=[chunk('{"caption": "A dog'), chunk(finish="length"), "[DONE]"])
    error = failure(vllm, [cut, cut])
    assert error.problem == ServerProblem.BAD_ANSWER and "cut off" in error.message


def test_an_error_inside_the_stream(vllm: OpenAIServerDouble) -> None:
    event = json.dumps({"error": {"code": 500, "message": "slot crashed", "type": "server_error"}})
    error = failure(vllm, [Reply(events=[chunk('{"cap'), event])])
    assert error.problem == ServerProblem.FAILED and "slot crashed" in error.message


def test_a_truncated_stream_is_a_broken_connection(vllm: OpenAIServerDouble) -> None:
    events = streamed(GOOD).events
    error = failure(vllm, [Reply(events=events, drop_after=2)])
    assert error.problem == ServerProblem.DOWN and error.server_fault


def test_a_hanging_server_times_out(vllm: OpenAIServerDouble) -> None:
    error = failure(vllm, [Reply(delay_s=1.5, events=streamed(GOOD).events)], request_timeout_s=0.5)
    assert error.problem == ServerProblem.TIMEOUT and error.server_fault


def test_schema_violations_name_what_is_wrong() -> None:
    limits = AnswerLimits(10, max_tags=1)
    assert schema_violations({"caption": "ok", "tags": ["a"], "language": "en"}, limits) == []
    found = schema_violations(
        {"caption": "", "tags": ["a" * 40, 3], "language": 1, "extra": 1}, limits, moments=2
    )
    assert "no 'moments'" in found and "an unexpected key 'extra'" in found
    assert "the caption is empty" in found and "2 tags (at most 1)" in found
    assert "a tag has 40 characters (at most 32)" in found and "a tag is not a string" in found
    assert "the language is not a string" in found


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def test_tls_is_verified_unless_self_signed_is_allowed(self_signed: ssl.SSLContext) -> None:
    with OpenAIServerDouble(VLLM_ROUTES).running(tls=self_signed) as double:
        assert double.url.startswith("https://")
        with pytest.raises(ServerError) as raised:
            probe(ServerConfig(url=double.url, name="double"))
        assert raised.value.problem == ServerProblem.DOWN
        assert "not trusted" in raised.value.message and "self-signed" in raised.value.message
        result = caption(double, [streamed(GOOD)], allow_self_signed=True)
    assert result.answer.caption == "A dog on a beach."
