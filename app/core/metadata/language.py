"""The caption's language as an XMP `xml:lang` value (RFC 3066 / BCP 47).

Captions record the language the way it was asked for or answered ("English",
"Français", "en"); XMP wants a tag. The names the settings offer (and their English
names) map to tags; a value that already is a tag is kept; anything else is left out
rather than written wrong (x-default always carries the text).
"""

from __future__ import annotations

import re

_TAG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$", re.IGNORECASE)
_BY_NAME = {
    "english": "en", "deutsch": "de", "german": "de", "français": "fr", "french": "fr",
    "español": "es", "spanish": "es", "italiano": "it", "italian": "it",
    "português": "pt", "portuguese": "pt", "nederlands": "nl", "dutch": "nl",
    "polski": "pl", "polish": "pl", "svenska": "sv", "swedish": "sv", "türkçe": "tr",
    "turkish": "tr", "русский": "ru", "russian": "ru", "日本語": "ja", "japanese": "ja",
    "中文": "zh", "chinese": "zh", "한국어": "ko", "korean": "ko",
}  # fmt: skip


def language_tag(language: str | None) -> str | None:
    if not language:
        return None
    value = language.strip()
    if value.lower() in _BY_NAME:
        return _BY_NAME[value.lower()]
    return value if _TAG.match(value) and value.lower() != "x-default" else None
