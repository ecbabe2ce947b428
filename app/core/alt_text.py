"""Alt text from a caption: what "Copy as alt text" and the HTML export write.

The "Alt text" prompt asks the model for exactly this (one objective sentence of at
most ALT_TEXT_CHARS, no "image of"), and the engine holds it to the length. Captions
made with another prompt, or written by the user, are often longer or start with
"A photo of": those are shortened here, at a sentence or word boundary, because alt
text that a screen reader cuts off mid-word is worse than a shorter one.
"""

from __future__ import annotations

import html
import re
import urllib.parse

ALT_TEXT_CHARS = 125  # what screen readers and most CMSs expect (WebAIM's guidance)

# "An image of", "Photo of", "This picture shows", "A close-up photograph showing"…:
# a screen reader already says "image", so these words only delay what matters.
_LEAD_IN = re.compile(
    r"""^\s*(?:(?:this|the|an?)\s+)?(?:close-?up\s+|black[- ]and[- ]white\s+|colou?r\s+)?
        (?:image|photo|photograph|picture|pic|snapshot|shot|frame|still)
        (?:\s+(?:of|showing|shows|that\s+shows|depicting|depicts|with))?\s*[:,-]?\s+""",
    re.IGNORECASE | re.VERBOSE,
)
_SENTENCE_END = re.compile(r"[.!?…](?=\s|$)")


def alt_text(caption: str | None, limit: int = ALT_TEXT_CHARS) -> str:
    """The caption as alt text: one line, no "image of" lead-in, at most `limit`
    characters (whole sentences if they fit, else whole words and "…")."""
    text = " ".join((caption or "").split())
    stripped = _LEAD_IN.sub("", text, count=1)
    if stripped and stripped != text:
        text = stripped[0].upper() + stripped[1:]
    if len(text) <= limit:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, limit + 1) if m.end() <= limit]
    if ends and ends[-1] >= limit // 3:  # a whole first sentence, if it says enough
        return text[: ends[-1]]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def img_tag(src: str, alt: str, width: int | None = None, height: int | None = None) -> str:
    """`<img src alt>` for a web page: `src` a relative path with "/" separators,
    `alt` escaped; width and height when known, so the page does not jump while
    images load."""
    parts = [f'<img src="{_url(src)}"']
    parts.append(f'alt="{html.escape(alt, quote=True)}"')
    if width and height:
        parts.append(f'width="{width}" height="{height}"')
    parts.append('loading="lazy">')
    return " ".join(parts)


def video_tag(src: str, alt: str) -> str:
    """`<video>` with the caption as its accessible name (video has no alt)."""
    quoted = _url(src)
    label = html.escape(alt, quote=True)
    return f'<video src="{quoted}" controls preload="metadata" aria-label="{label}"></video>'


def _url(path: str) -> str:
    """A relative path as an attribute value: percent-encoded ("/" kept), and a
    non-UTF-8 name as its own bytes."""
    return html.escape(urllib.parse.quote(path, errors="surrogateescape"))
