"""The engine's exact prompt text, rendered the way llama-cpp-python renders it.

Training must show the model the very prompt it will see when captioning. The caption
engine sends `models.prompts.build_messages(...)` through llama-cpp-python's
`MTMDChatHandler`, which renders the chat template stored in the GGUF (not the one in the
Hugging Face repo) with image parts turned into the media marker text. This module repeats
that rendering, then swaps each marker for the Hugging Face processor's own image
placeholder, which the processor expands into image tokens. No heavy imports.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.finetune.spec import Example
from models.prompts import build_messages

# mtmd_default_marker() in llama.cpp: where each image goes in the rendered text.
MEDIA_MARKER = "<__media__>"
_PROBE_BEFORE, _PROBE_AFTER, _PROBE_ANSWER = "\x01before\x01", "\x01after\x01", "\x01answer\x01"


class ChatTemplateError(ValueError):
    """The model carries no usable chat template; the message says which file."""


def gguf_chat_template(model_gguf: Path) -> str:
    """The chat template llama.cpp uses for this model (GGUF metadata)."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(model_gguf))
    except (OSError, ValueError) as exc:
        raise ChatTemplateError(f"cannot read the model {model_gguf.name}: {exc}") from exc
    field = reader.get_field("tokenizer.chat_template")
    template = field.contents() if field is not None else None
    if not isinstance(template, str) or not template:
        raise ChatTemplateError(f"the model {model_gguf.name} has no chat template")
    return template


def engine_messages(example: Example) -> list[dict[str, Any]]:
    """The messages the engine builds for this example (image parts carry dummy URLs)."""
    urls = [f"image://{index}" for index in range(len(example.images))]
    return build_messages(
        example.prompt,
        urls,
        language=example.language,
        exif_context=example.exif_context,
        timestamps=example.timestamps,
    )


def render(
    template: str,
    messages: Sequence[dict[str, Any]],
    *,
    bos_token: str,
    eos_token: str,
    add_generation_prompt: bool = True,
) -> str:
    """Render like MTMDChatHandler: sandboxed Jinja, trim/lstrip blocks, image parts as
    text parts holding the media marker."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def raise_exception(message: str) -> None:
        raise ChatTemplateError(message)

    rendered: str = _compiled(template).render(
        messages=[_marked(m) for m in messages],
        add_generation_prompt=add_generation_prompt,
        bos_token=bos_token,
        eos_token=eos_token,
        raise_exception=raise_exception,
        strftime_now=Jinja2ChatFormatter.strftime_now,
    )
    return rendered


@functools.lru_cache(maxsize=8)
def _compiled(template: str) -> Any:
    """The template compiled once: compiling took 7 ms, most of a render, and a
    training run renders a prompt for every example it shows."""
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[Jinja2ChatFormatter.IgnoreGenerationTags, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = Jinja2ChatFormatter.tojson
    return env.from_string(template)


def _marked(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if not isinstance(content, list):
        return message
    parts = [
        {"type": "text", "text": MEDIA_MARKER} if part.get("type") == "image_url" else part
        for part in content
    ]
    return {**message, "content": parts}


def turn_suffix(template: str, *, bos_token: str, eos_token: str) -> str:
    """What the template writes after an assistant answer, up to the end-of-turn token
    ("<end_of_utterance>", "<|im_end|>", ...): the model must learn to stop there."""
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": _PROBE_ANSWER}]},
    ]
    text = render(
        template, messages, bos_token=bos_token, eos_token=eos_token, add_generation_prompt=False
    )
    _, found, after = text.partition(_PROBE_ANSWER)
    suffix = after.rstrip() if found else ""
    return suffix or eos_token


def processor_image_placeholder(processor: Any) -> str:
    """The text the Hugging Face processor expands into one image's tokens, found by
    rendering its own chat template around one image part (family-agnostic)."""
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": _PROBE_BEFORE},
                {"type": "image"},
                {"type": "text", "text": _PROBE_AFTER},
            ],
        }
    ]
    tokenizer = getattr(processor, "tokenizer", processor)
    template = getattr(processor, "chat_template", None) or tokenizer.chat_template
    text = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False)
    start = text.find(_PROBE_BEFORE)
    end = text.find(_PROBE_AFTER)
    placeholder = text[start + len(_PROBE_BEFORE) : end] if 0 <= start < end else ""
    if placeholder.strip():
        return placeholder
    token = getattr(processor, "image_token", None)
    if not token:
        raise ChatTemplateError("cannot tell how this model's processor marks an image")
    return str(token)
