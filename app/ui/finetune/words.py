"""The fine-tune screen's words, as pure functions (no widget, no Qt): what changed between
the model's caption and the user's, word by word; the memory an estimate says a run needs;
and what each score (CIDEr, ROUGE-L, BLEU-4) means for the captions, in plain words, with
the numbers kept.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from app.core.text import counted

Op = Literal["same", "removed", "added"]
CHANGE_EPSILON = 5e-4  # smaller than the third decimal the numbers are shown with

_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class Piece:
    """A run of words: in both captions, only in the model's, or only in the user's."""

    op: Op
    text: str


def word_diff(model: str, user: str) -> list[Piece]:
    """The two captions as runs of words, compared word by word (difflib over the words,
    so "dog." and "dog" differ: the user changed the punctuation too). Whitespace between
    words is not compared; runs are joined with one space."""
    old, new = _TOKEN.findall(model), _TOKEN.findall(user)
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            pieces.append(Piece("same", " ".join(old[a0:a1])))
            continue
        if a1 > a0:
            pieces.append(Piece("removed", " ".join(old[a0:a1])))
        if b1 > b0:
            pieces.append(Piece("added", " ".join(new[b0:b1])))
    return pieces


def diff_html(model: str, user: str, removed: str, added: str) -> tuple[str, str]:
    """(the model's caption, the user's caption) as rich text: the words the user removed
    struck through in the `removed` colour in the first, the words they added bold in the
    `added` colour in the second. Every caption word is HTML-escaped; colours are CSS
    colour names ("#b02020") from the theme."""
    pieces = word_diff(model, user)
    old = [_span(p, removed, "line-through") for p in pieces if p.op != "added"]
    new = [_span(p, added, "bold") for p in pieces if p.op != "removed"]
    return " ".join(old), " ".join(new)


def _span(piece: Piece, colour: str, mark: Literal["line-through", "bold"]) -> str:
    text = html.escape(piece.text)
    if piece.op == "same":
        return text
    style = "text-decoration: line-through" if mark == "line-through" else "font-weight: 600"
    tag = "s" if mark == "line-through" else "b"  # the mark survives without colour
    return f'<{tag} style="color: {html.escape(colour)}; {style}">{text}</{tag}>'


def change_summary(model: str, user: str) -> str:
    """ "2 words removed, 3 added", "1 word added", or that no word changed."""
    pieces = word_diff(model, user)
    gone = sum(len(p.text.split()) for p in pieces if p.op == "removed")
    new = sum(len(p.text.split()) for p in pieces if p.op == "added")
    if not gone and not new:
        return "No words changed (only spacing or tags)"
    if not gone:
        return f"{counted(new, 'word')} added"
    return f"{counted(gone, 'word')} removed" + (f", {new} added" if new else "")


# -- memory -----------------------------------------------------------------------------
def memory_text(needed_gb: float, available_gb: float) -> str:
    """The memory line: never "0.0 GB needed". An estimate of 0 is "unknown" (the planner
    knows no parameter count for the model), so it is left out; one under 0.1 GB reads
    "under 0.1 GB". "" when there is nothing to say."""
    parts = []
    if needed_gb > 0:
        amount = "under 0.1 GB" if needed_gb < 0.1 else f"about {needed_gb:.1f} GB"
        parts.append(f"{amount} needed")
    if available_gb > 0:
        parts.append(f"{_gb(available_gb)} available")
    return " · ".join(parts)


def _gb(value: float) -> str:
    return "under 0.1 GB" if value < 0.1 else f"{value:.1f} GB"


# -- scores -----------------------------------------------------------------------------
METRIC_NAMES = {"cider": "CIDEr", "rouge_l": "ROUGE-L", "bleu4": "BLEU-4"}
METRIC_MEANING = {
    "cider": "the distinctive words you use",
    "rouge_l": "long runs of your wording, in your order",
    "bleu4": "your exact 4-word phrases",
}
_CLOSER = {
    "cider": "the new captions share more of the distinctive words you use",
    "rouge_l": "the new captions keep longer runs of your wording, in your order",
    "bleu4": "the new captions repeat more of your exact 4-word phrases",
}
_FURTHER = {
    "cider": "the new captions share fewer of the distinctive words you use",
    "rouge_l": "the new captions keep shorter runs of your wording",
    "bleu4": "the new captions repeat fewer of your exact 4-word phrases",
}
_SAME = {
    "cider": "the new captions share as many of the distinctive words you use",
    "rouge_l": "the new captions keep runs of your wording as long as before",
    "bleu4": "the new captions repeat as many of your exact 4-word phrases",
}


def direction(before: float | None, after: float | None) -> int | None:
    """+1 closer to the user's captions, -1 further, 0 no change, None not scored."""
    if before is None or after is None:
        return None
    if abs(after - before) < CHANGE_EPSILON:
        return 0
    return 1 if after > before else -1


def metric_sentence(key: str, before: float | None, after: float | None) -> str:
    """ "CIDEr 0.410 → 0.630: the new captions share more of the distinctive words you use
    (higher is better)"."""
    name = METRIC_NAMES.get(key, key)
    moved = direction(before, after)
    if moved is None or before is None or after is None:
        known = after if after is not None else before
        score = f"{name} {known:.3f}" if known is not None else f"{name} not scored"
        meaning = METRIC_MEANING.get(key, "how close the captions are to yours")
        return f"{score}: how much the captions share {meaning} (higher is better)"
    words = {1: _CLOSER, -1: _FURTHER, 0: _SAME}[moved].get(key, "")
    if not words:
        words = {1: "closer to yours", -1: "further from yours", 0: "no change"}[moved]
    return f"{name} {before:.3f} → {after:.3f}: {words} (higher is better)"


def verdict(before: Mapping[str, float] | None, after: Mapping[str, float] | None) -> str:
    """One line over the scores both runs have: closer on all, further on all, or mixed."""
    moves = [direction((before or {}).get(key), (after or {}).get(key)) for key in METRIC_NAMES]
    known = [m for m in moves if m is not None]
    if not known:
        return ""
    count = len(known)
    measures = {1: "the one measure scored", 2: "both measures", 3: "all three measures"}
    on = measures.get(count, f"all {count} measures")
    if all(m > 0 for m in known):
        return f"Captions moved closer to yours on {on}."
    if all(m < 0 for m in known):
        return f"Captions moved further from yours on {on}."
    if all(m == 0 for m in known):
        return f"Captions are as close to yours as before on {on}."
    closer = sum(1 for m in known if m > 0)
    further = sum(1 for m in known if m < 0)
    if not further:
        return (
            f"Captions moved closer to yours on {closer} of {count} measures; "
            "the others did not change."
        )
    if not closer:
        return f"Captions moved further from yours on {further} of {count} measures; the rest held."
    same = count - closer - further
    rest = f", unchanged on {same}" if same else ""
    return f"Mixed: closer to yours on {closer} of {count} measures, further on {further}{rest}."
