"""A search hit's snippet laid out in a cell's few lines, with the matched words kept in
sight and marked.

The search marks matches as «word» (app.ui.gallery.browser). A plain word-wrap then
elides the end of the last line, and the match can hide past the ellipsis; so the lines
start earlier in the text ("… ") when that is what it takes to show the first match.
Pure functions over a width function, so they are tested without painting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

OPEN, CLOSE = "«", "»"
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    marked: bool


Line = tuple[Word, ...]
Width = Callable[[Word], int]  # pixels a word takes (a marked word is drawn bold)


def words_of(text: str) -> list[Word]:
    """Whitespace-separated words; a word is marked if any of it was inside « »."""
    words: list[Word] = []
    inside = False
    current, marked = "", False
    for char in text + " ":
        if char == OPEN:
            inside = True
            marked = True
        elif char == CLOSE:
            inside = False
        elif char.isspace():
            if current:
                words.append(Word(current, marked))
            current, marked = "", inside
        else:
            current += char
            marked = marked or inside
    return words


def lay_out(words: list[Word], width: Width, space: int, limit: int, max_lines: int) -> list[Line]:
    """Lines of at most `limit` pixels; the first marked word is on one of them, even if
    the text has to start later (with "…") for it."""
    first_mark = next((n for n, w in enumerate(words) if w.marked), None)
    start = 0
    while True:
        shown = words[start:] if start == 0 else [Word(ELLIPSIS, False), *words[start:]]
        lines = _wrap(shown, width, space, limit, max_lines)
        visible = any(w.marked for line in lines for w in line)
        if first_mark is None or visible or start >= first_mark:
            return lines
        start += 1


def _wrap(words: list[Word], width: Width, space: int, limit: int, max_lines: int) -> list[Line]:
    """The last line ends with "…" when words are left over."""
    lines: list[list[Word]] = [[]]
    used_px = 0
    for word in words:
        need = width(word) + (space if lines[-1] else 0)
        if lines[-1] and used_px + need > limit:
            if len(lines) == max_lines:
                return _ellipsize(lines, width, space, limit)
            lines.append([])
            used_px, need = 0, width(word)
        lines[-1].append(word)
        used_px += need
    return [tuple(line) for line in lines if line]


def _ellipsize(lines: list[list[Word]], width: Width, space: int, limit: int) -> list[Line]:
    last = lines[-1]
    while (
        len(last) > 1
        and _line_width(last, width, space) + space + width(Word(ELLIPSIS, False)) > limit
    ):
        last.pop()
    last.append(Word(ELLIPSIS, False))
    return [tuple(line) for line in lines]


def _line_width(line: list[Word] | Line, width: Width, space: int) -> int:
    return sum(width(w) for w in line) + space * max(0, len(line) - 1)
