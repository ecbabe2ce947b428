"""How each server kind wants a caption request: the same messages and JSON schema as
the in-process engine, spelled in the server's dialect of the OpenAI chat API.

- llama-server, vLLM, Ollama (>= 0.5) and plain OpenAI take `response_format`
  `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}` (llama-server's
  `json_object` + `schema` form trips its own output parser: ENGINE-FACTS).
- llama-cpp-python's server takes only `{"type": "json_object", "schema": …}` (its
  request model allows "text" and "json_object").
- The repetition penalty: `repeat_penalty` in llama.cpp (both servers),
  `repetition_penalty` in vLLM; Ollama's /v1 and OpenAI have none (not sent).
- Per-request LoRA (`"lora": [{"id", "scale"}]`): llama-server only.

The engine bounds strings with a logits processor; a server cannot run ours, so the
bounds go into the schema (`maxLength`, `maxItems`) and `max_tokens`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from models.prompts import (
    LANGUAGE_MAX_CHARS,
    MOMENT_MAX_CHARS,
    TAG_MAX_CHARS,
    AnswerLimits,
    answer_schema,
)
from models.runtime import Sampling
from models.servers.config import ServerKind

SCHEMA_NAME = "caption"
# llama.cpp's grammar counts a token of invalid UTF-8 as one character; the server sends
# it as one U+FFFD per byte. Not counted against maxLength (the schema was kept).
REPLACEMENT = "\ufffd"


def server_schema(limits: AnswerLimits, moments: int = 0) -> dict[str, Any]:
    """models.prompts.answer_schema with every string bounded and no other keys."""
    schema = copy.deepcopy(answer_schema(limits, moments))
    props = schema["properties"]
    # answer_schema shares one dict for every string (deepcopy keeps that): one each.
    props["caption"] = {**props["caption"], "maxLength": limits.caption_chars}
    props["tags"]["items"] = {**props["tags"]["items"], "maxLength": TAG_MAX_CHARS}
    props["language"] = {**props["language"], "maxLength": LANGUAGE_MAX_CHARS}
    if "moments" in props:
        props["moments"]["items"] = {**props["moments"]["items"], "maxLength": MOMENT_MAX_CHARS}
    schema["additionalProperties"] = False
    return schema


def schema_violations(data: object, limits: AnswerLimits, moments: int = 0) -> list[str]:
    """What in a parsed answer breaks server_schema (empty: it follows it). A server
    that ignores the schema must not get its answer stored."""
    if not isinstance(data, dict):
        return ["the answer is not a JSON object"]
    found: list[str] = []
    required = ("caption", "tags", "language", *(("moments",) if moments else ()))
    found += [f"no {key!r}" for key in required if key not in data]
    found += [f"an unexpected key {key!r}" for key in data if key not in required]

    def text(value: object, where: str, longest: int) -> None:
        if not isinstance(value, str):
            found.append(f"{where} is not a string")
        elif not value:
            found.append(f"{where} is empty")
        elif (length := len(value.replace(REPLACEMENT, ""))) > longest:
            found.append(f"{where} has {length} characters (at most {longest})")

    if "caption" in data:
        text(data["caption"], "the caption", limits.caption_chars)
    if "language" in data and not isinstance(data["language"], str):
        found.append("the language is not a string")
    tags = data.get("tags")
    if "tags" in data and not isinstance(tags, list):
        found.append("the tags are not a list")
    elif isinstance(tags, list):
        if len(tags) > limits.max_tags:
            found.append(f"{len(tags)} tags (at most {limits.max_tags})")
        for tag in tags:
            text(tag, "a tag", TAG_MAX_CHARS)
    if moments and "moments" in data:
        said = data["moments"]
        if not isinstance(said, list):
            found.append("the moments are not a list")
        else:
            if len(said) != moments:
                found.append(f"{len(said)} moments for {moments} keyframes")
            for moment in said:
                text(moment, "a moment", MOMENT_MAX_CHARS)
    return found


@dataclass(frozen=True)
class Dialect:
    kind: str
    response_format_style: str  # "json_schema" or "json_object"
    repeat_penalty_key: str | None  # the penalty's name there; None: not sent
    per_request_lora: bool
    stream_usage: bool  # takes stream_options.include_usage (usage in the last chunk)

    def response_format(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.response_format_style == "json_object":
            return {"type": "json_object", "schema": schema}
        return {
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "schema": schema, "strict": True},
        }

    def body(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        sampling: Sampling,
        moments: int,
        lora: dict[int, float] | None = None,
        stream: bool = True,
    ) -> dict[str, Any]:
        """The /v1/chat/completions request body. `lora`: adapter id -> scale, for
        every adapter the server has loaded (llama-server applies an adapter left out
        at its global scale, 1.0 unless started with --lora-init-without-apply)."""
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "response_format": self.response_format(server_schema(sampling.limits, moments)),
            "max_tokens": sampling.limits.max_tokens(moments),
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "stream": stream,
        }
        if self.repeat_penalty_key:
            body[self.repeat_penalty_key] = sampling.repeat_penalty
        if stream and self.stream_usage:
            body["stream_options"] = {"include_usage": True}
        if lora is not None and self.per_request_lora:
            body["lora"] = [{"id": i, "scale": scale} for i, scale in sorted(lora.items())]
        return body


DIALECTS = {
    d.kind: d
    for d in (
        Dialect(ServerKind.LLAMA_SERVER, "json_schema", "repeat_penalty", True, True),
        Dialect(ServerKind.LLAMA_CPP_PYTHON, "json_object", "repeat_penalty", False, False),
        Dialect(ServerKind.VLLM, "json_schema", "repetition_penalty", False, True),
        Dialect(ServerKind.OLLAMA, "json_schema", None, False, True),
        Dialect(ServerKind.OPENAI, "json_schema", None, False, True),
    )
}


def dialect_for(kind: str) -> Dialect:
    return DIALECTS.get(kind, DIALECTS[ServerKind.OPENAI])
