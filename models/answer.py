"""Reading the model's JSON answer, including one cut off by the token limit.

A constrained answer is valid JSON unless generation stopped early (token limit,
cancel); then we keep what is usable — the caption so far — rather than fail the
item, and say so in the result.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CaptionAnswer:
    caption: str
    tags: list[str]
    language: str | None
    moments: list[str] = field(default_factory=list)
    complete: bool = True  # False when salvaged from a cut-off answer


class AnswerError(ValueError):
    """The model's output holds no usable caption."""


def clean_text(text: str) -> str:
    """Drop control characters (byte-fallback tokens can emit them) and fold spaces."""
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(kept.split())


def _clean_tags(tags: object) -> list[str]:
    if not isinstance(tags, list):
        return []
    seen: dict[str, None] = {}
    for tag in tags:
        if isinstance(tag, str) and (cleaned := clean_text(tag).lower()):
            seen.setdefault(cleaned, None)
    return list(seen)


def parse_answer(raw: str, *, moments: int = 0) -> CaptionAnswer:
    try:
        data = json.loads(raw, strict=False)
    except json.JSONDecodeError:
        return _salvage(raw)
    if not isinstance(data, dict):
        raise AnswerError("the model did not answer with a JSON object")
    caption = clean_text(str(data.get("caption", "")))
    if not caption:
        raise AnswerError("the model returned an empty caption")
    language = data.get("language")
    found_moments = [clean_text(str(m)) for m in data.get("moments") or []][:moments]
    return CaptionAnswer(
        caption=caption,
        tags=_clean_tags(data.get("tags")),
        language=clean_text(language) or None if isinstance(language, str) else None,
        moments=found_moments,
        complete=len(found_moments) == moments,
    )


_CAPTION_SO_FAR = re.compile(r'"caption"\s*:\s*"((?:[^"\\]|\\.)*)', re.DOTALL)
_TAGS_SO_FAR = re.compile(r'"tags"\s*:\s*\[((?:\s*"(?:[^"\\]|\\.)*"\s*,?)*)', re.DOTALL)


def _salvage(raw: str) -> CaptionAnswer:
    match = _CAPTION_SO_FAR.search(raw)
    caption = clean_text(_unescape(match.group(1))) if match else ""
    if not caption:
        raise AnswerError("the model's answer was cut off before it wrote a caption")
    tags_match = _TAGS_SO_FAR.search(raw)
    tags = re.findall(r'"((?:[^"\\]|\\.)*)"', tags_match.group(1)) if tags_match else []
    return CaptionAnswer(caption, _clean_tags([_unescape(t) for t in tags]), None, [], False)


def _unescape(fragment: str) -> str:
    try:
        text: str = json.loads(f'"{fragment}"', strict=False)
        return text
    except json.JSONDecodeError:
        return fragment.replace('\\"', '"')
