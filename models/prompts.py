"""Caption prompts, the JSON schema the answer must follow, and the chat messages.

The answer is generated in one pass under a JSON schema (llama.cpp turns it into a
grammar). Every string and list in the schema is bounded and `max_tokens` is sized
from those bounds, so the grammar always closes inside the token budget instead of
being cut off mid-string (see ENGINE-FACTS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from models.resources import load_json

TAG_MAX_CHARS = 32
LANGUAGE_MAX_CHARS = 16
MOMENT_MAX_CHARS = 120
# Worst case one token per character (a byte-fallback model), plus JSON punctuation:
# keys, quotes, colons, commas and the optional spaces between them.
JSON_OVERHEAD_TOKENS = 80
PER_STRING_OVERHEAD = 6


@dataclass(frozen=True)
class PromptTemplate:
    id: str
    name: str
    instruction: str
    # A tighter bound on the caption than the user's length setting, for a prompt
    # whose answer has a hard limit elsewhere (alt text: 125 characters, which screen
    # readers and most CMSs expect). Enforced like every string bound, while sampling.
    caption_chars: int | None = None


@dataclass(frozen=True)
class AnswerLimits:
    caption_chars: int = 512  # ~128 tokens of English
    max_tags: int = 10

    def max_tokens(self, moments: int = 0) -> int:
        """A token budget the answer always fits in, even at one token per character."""
        tags = self.max_tags * (TAG_MAX_CHARS + PER_STRING_OVERHEAD)
        per_moment = MOMENT_MAX_CHARS + PER_STRING_OVERHEAD
        return (
            self.caption_chars
            + tags
            + LANGUAGE_MAX_CHARS
            + moments * per_moment
            + JSON_OVERHEAD_TOKENS
        )


def builtin_prompts() -> dict[str, PromptTemplate]:
    data = load_json("prompts.json")
    return {
        p["id"]: PromptTemplate(p["id"], p["name"], p["instruction"], p.get("caption_chars"))
        for p in data["prompts"]
    }


def answer_schema(limits: AnswerLimits, moments: int = 0) -> dict[str, Any]:
    """The answer's shape. Strings carry no maxLength on purpose: llama.cpp expands
    it into nested grammar rules that make sampling crawl; `string_budget` bounds
    them instead (see `string_budgets`)."""
    text = {"type": "string", "minLength": 1}
    properties: dict[str, Any] = {
        "caption": text,
        "tags": {"type": "array", "items": text, "maxItems": limits.max_tags},
        "language": {"type": "string"},
    }
    required = ["caption", "tags", "language"]
    if moments:
        properties["moments"] = {
            "type": "array",
            "items": text,
            "minItems": moments,
            "maxItems": moments,
        }
        required.append("moments")
    return {"type": "object", "properties": properties, "required": required}


def string_budgets(limits: AnswerLimits) -> dict[str, int]:
    """Longest value, in characters, of each string field (tags: each tag)."""
    return {
        "caption": limits.caption_chars,
        "tags": TAG_MAX_CHARS,
        "language": LANGUAGE_MAX_CHARS,
        "moments": MOMENT_MAX_CHARS,
    }


def context_line(exif_context: str | None) -> str:
    return f" Known about this photo: {exif_context}." if exif_context else ""


def build_messages(
    template: PromptTemplate,
    image_urls: Sequence[str],
    *,
    language: str,
    exif_context: str | None = None,
    timestamps: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """One user message: the image(s), then the instruction.

    For a video the frames are interleaved with their timestamps ("[12.5s]"), so
    the model can tell when things happen (as CogVLM2-Video prompts do).
    """
    data = load_json("prompts.json")
    context = context_line(exif_context)
    parts: list[dict[str, Any]] = []
    if timestamps is None:
        parts += [{"type": "image_url", "image_url": {"url": url}} for url in image_urls]
        instruction = template.instruction.format(language=language, context=context)
    else:
        parts.append({"type": "text", "text": data["video_preamble"].format(count=len(image_urls))})
        for url, t in zip(image_urls, timestamps, strict=True):
            parts.append({"type": "text", "text": f"[{t:.1f}s]"})
            parts.append({"type": "image_url", "image_url": {"url": url}})
        instruction = data["video_instruction"].format(language=language, context=context)
    parts.append({"type": "text", "text": instruction + " Answer in JSON."})
    return [{"role": "user", "content": parts}]
