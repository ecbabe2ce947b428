"""Turning whatever the user typed into a safe FTS5 query plus SQL filters.

Any text is a valid query: every word is quoted before it reaches FTS5, so
unbalanced quotes, lone operators, punctuation, emoji and SQL-looking text are
searched for, never parsed as syntax. Supported:
  beach dog          both words (stems: "dogs" finds "dog")
  beac*              prefix
  "red car"          phrase (a missing closing quote is forgiven)
  cat OR dog         either
  -cat  NOT cat      without
  tag:sunset  folder:2024  type:photo|video  by:ai|me  after:2024-05  before:2025
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TOKEN = re.compile(r'(-)?(?:([A-Za-z]+):)?("[^"]*"?|[^\s"]+)')
FIELDS_IN_INDEX = {"tag": "tags", "tags": "tags", "folder": "folder", "name": "name"}
KINDS = {
    "photo": "photo",
    "photos": "photo",
    "image": "photo",
    "images": "photo",
    "video": "video",
    "videos": "video",
    "movie": "video",
}
SOURCES = {"me": "user", "user": "user", "human": "user", "ai": "model", "model": "model"}
DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass
class ParsedQuery:
    match: str | None = None  # FTS5 expression of the words, or None
    exclude: str | None = None  # FTS5 expression of the "-" words when there is no match
    kind: str | None = None
    source: str | None = None
    after: str | None = None
    before: str | None = None
    words: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (
            self.match or self.exclude or self.kind or self.source or self.after or self.before
        )


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _has_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def parse_query(text: str, *, as_you_type: bool = False) -> ParsedQuery:
    """Parse `text`. With `as_you_type`, a last word not yet followed by a space is a prefix."""
    parsed = ParsedQuery()
    groups: list[list[str]] = []  # AND of ORs
    negatives: list[str] = []
    join_next_with_or = False
    negate_next = False
    tokens = list(TOKEN.finditer(text))
    for index, token in enumerate(tokens):
        minus, field_name, raw = token.group(1), (token.group(2) or "").lower(), token.group(3)
        if not minus and not field_name and raw in ("OR", "AND", "NOT"):
            join_next_with_or = raw == "OR" and bool(groups)
            negate_next = raw == "NOT"
            continue
        if field_name and _apply_filter(parsed, field_name, raw):
            continue
        is_last = index == len(tokens) - 1 and not text[token.end() :].strip()
        term = _term(
            field_name,
            raw,
            prefix_if_open=as_you_type and is_last and not text.endswith((" ", "\t")),
        )
        if term is None:
            continue
        parsed.words.append(raw.strip('"*'))
        if minus or negate_next:
            negatives.append(term)
        elif join_next_with_or:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next_with_or = negate_next = False
    positive = " AND ".join("(" + " OR ".join(g) + ")" for g in groups)
    if positive and negatives:
        parsed.match = f"({positive}) NOT ({' OR '.join(negatives)})"
    elif positive:
        parsed.match = positive
    elif negatives:
        parsed.exclude = " OR ".join(negatives)
    return parsed


def _apply_filter(parsed: ParsedQuery, field_name: str, raw: str) -> bool:
    value = raw.strip('"').lower()
    if field_name == "type" and value in KINDS:
        parsed.kind = KINDS[value]
    elif field_name == "by" and value in SOURCES:
        parsed.source = SOURCES[value]
    elif field_name in ("after", "since") and DATE.match(value):
        parsed.after = value
    elif field_name in ("before", "until") and DATE.match(value):
        parsed.before = value
    else:
        return False
    return True


def _term(field_name: str, raw: str, *, prefix_if_open: bool) -> str | None:
    quoted = raw.startswith('"')
    body = raw.strip('"') if quoted else raw
    prefix = not quoted and body.endswith("*")
    body = body.rstrip("*")
    column = FIELDS_IN_INDEX.get(field_name)
    if field_name and column is None:
        body = f"{field_name} {body}"  # "foo:bar" with an unknown field: just words
    if not _has_word(body):
        return None
    expr = _quote(body) + ("*" if prefix or (prefix_if_open and not quoted) else "")
    return f"{column} : {expr}" if column else expr
