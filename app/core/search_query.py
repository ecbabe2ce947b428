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

Besides the FTS5 expression, a parsed query carries the same expression with its
words restricted to captions and tags (broad queries list those matches first) and
its terms as word lists, for highlighting matches in Python (`highlight`).
"""

from __future__ import annotations

import re
import unicodedata
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
# Control characters end FTS5's quoted strings early ("unterminated string" for a NUL):
# they are no part of any word, so they become spaces.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTENT_COLUMNS = "{caption tags}"  # FTS5 column filter: what was written about the photo


@dataclass(frozen=True, slots=True)
class Term:
    """One positive term as FTS5 matches it: folded words in a row (a phrase if
    more than one), the last one a prefix or not, in one column or any."""

    words: tuple[str, ...]
    prefix: bool = False
    column: str | None = None


@dataclass
class ParsedQuery:
    match: str | None = None  # FTS5 expression of the words, or None
    # `match` with the words that name no column restricted to captions and tags.
    content_match: str | None = None
    exclude: str | None = None  # FTS5 expression of the "-" words when there is no match
    kind: str | None = None
    source: str | None = None
    after: str | None = None
    before: str | None = None
    words: list[str] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list)  # the positive ones, to highlight
    # For search by meaning: the positive words that name no column, as typed ("dog
    # beach"); an FTS5 expression the rows must match (the column terms: tag:, folder:,
    # name:), and one they must not (the "-" words), or None.
    meaning: str = ""
    scope: str | None = None
    unwanted: str | None = None
    # The FTS5 expressions of the positive terms, one list per AND-ed group of ORs:
    # search ranks by some of them (app.core.search._ranking_match).
    groups: list[list[str]] = field(default_factory=list)

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
    text = CONTROL.sub(" ", text)
    parsed = ParsedQuery()
    groups: list[list[tuple[str, str]]] = []  # AND of ORs of (expression, content expression)
    negatives: list[str] = []
    meaning: list[str] = []
    scoped: list[str] = []
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
        expr, highlight = term
        parsed.words.append(raw.strip('"*'))
        if minus or negate_next:
            negatives.append(expr)
        else:
            if highlight.column:
                scoped.append(expr)
            else:
                meaning.append(raw.strip('"*'))
            parsed.terms.append(highlight)
            content = expr if highlight.column else f"{CONTENT_COLUMNS} : {expr}"
            if join_next_with_or:
                groups[-1].append((expr, content))
            else:
                groups.append([(expr, content)])
        join_next_with_or = negate_next = False
    without = f" NOT ({' OR '.join(negatives)})" if negatives else ""
    if groups:
        parsed.match = _all_of([[expr for expr, _ in g] for g in groups], without)
        parsed.content_match = _all_of([[content for _, content in g] for g in groups], without)
        parsed.groups = [[expr for expr, _ in g] for g in groups]
    elif negatives:
        parsed.exclude = " OR ".join(negatives)
    parsed.meaning = " ".join(word for word in meaning if _has_word(word))
    parsed.scope = " AND ".join(f"({expr})" for expr in scoped) or None
    parsed.unwanted = " OR ".join(negatives) or None
    return parsed


def _all_of(groups: list[list[str]], without: str) -> str:
    positive = " AND ".join("(" + " OR ".join(g) + ")" for g in groups)
    return f"({positive}){without}" if without else positive


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


def _term(field_name: str, raw: str, *, prefix_if_open: bool) -> tuple[str, Term] | None:
    """The FTS5 expression of one typed term, and the term for highlighting."""
    quoted = raw.startswith('"')
    body = raw.strip('"') if quoted else raw
    prefix = not quoted and body.endswith("*")
    body = body.rstrip("*")
    column = FIELDS_IN_INDEX.get(field_name)
    if field_name and column is None:
        body = f"{field_name} {body}"  # "foo:bar" with an unknown field: just words
    if not _has_word(body):
        return None
    prefix = prefix or (prefix_if_open and not quoted)
    expr = _quote(body) + ("*" if prefix else "")
    highlight = Term(tuple(fold(w) for w in WORD.findall(body)), prefix, column)
    return (f"{column} : {expr}" if column else expr), highlight


# -- matching text against the terms, for snippets -------------------------------------
# A word as the index's unicode61 tokenizer sees it: a run of letters and digits.
WORD = re.compile(r"[^\W_]+")
MIN_STEM = 3  # "dog" matches "dogs", but "a" does not match "and"


def fold(word: str) -> str:
    """Lowercase without diacritics, as the index compares words ("Café" -> "cafe")."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def word_matches(word: str, term_word: str, *, prefix: bool) -> bool:
    """Whether a folded word of the text matches a folded word of the query.

    The index stems words (porter), which Python cannot redo exactly; near enough
    for highlighting: one is the start of the other ("dogs" ~ "dog", "running" ~
    "run"), the shorter having at least MIN_STEM letters.
    """
    if word.startswith(term_word):
        return prefix or word == term_word or len(term_word) >= MIN_STEM
    return not prefix and len(word) >= MIN_STEM and term_word.startswith(word)


def term_spans(words: list[str], term: Term) -> list[tuple[int, int]]:
    """(first, last) word index of every match of `term` in `words` (folded)."""
    size = len(term.words)
    if size == 1:  # the common case: word_matches inlined, a search shows 50 snippets
        word = term.words[0]
        if term.prefix:
            return [(i, i) for i, w in enumerate(words) if w.startswith(word)]
        stems = {word[:n] for n in range(MIN_STEM, len(word))}  # "dog" for "dogs"
        longer = len(word) >= MIN_STEM  # "dogs" for "dog"
        return [
            (i, i)
            for i, w in enumerate(words)
            if w == word or w in stems or (longer and w.startswith(word))
        ]
    return [
        (start, start + size - 1)
        for start in range(len(words) - size + 1)
        if all(
            word_matches(words[start + i], w, prefix=term.prefix and i == size - 1)
            for i, w in enumerate(term.words)
        )
    ]


def could_match(text: str, terms: list[Term]) -> bool:
    """A quick test that rules out most texts without a match: the start of some
    term's first word must occur in the text somewhere."""
    folded = fold(text)
    return any(term.words and term.words[0][:MIN_STEM] in folded for term in terms)


def merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlapping ones joined, so each word is wrapped once."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


def folded_words(text: str) -> list[str]:
    """The words of `text` as the index compares them."""
    if text.isascii():  # folding ASCII keeps every offset: fold the whole text at once
        return WORD.findall(text.lower())
    return [fold(word) for word in WORD.findall(text)]


def find_terms(words: list[str], terms: list[Term], column: str) -> list[list[tuple[int, int]]]:
    """The spans of each term that applies to `column`, one list per term."""
    return [term_spans(words, t) for t in terms if t.column in (None, column) and t.words]


def render(
    text: str,
    spans: list[tuple[int, int]],
    marks: tuple[str, str],
    *,
    window: int = 12,
    ellipsis: str = "…",
) -> str:
    """About `window` words of `text` around the first span, spans (word indexes)
    wrapped in `marks` and "…" where text was cut, as FTS5's snippet() does."""
    found = list(WORD.finditer(text))
    if not found:
        return text
    spans = merged(spans)
    first = spans[0][0] if spans else 0
    # Center the matches that fit in the window, as FTS5 does.
    last = max((end for _, end in spans if end < first + window), default=first)
    start = max(0, min(first - (window - (last - first + 1)) // 2, len(found) - window))
    end = min(len(found), start + window) - 1
    out = [ellipsis if start > 0 else text[: found[0].start()]]
    position = found[start].start()
    for span_start, span_end in spans:
        if start <= span_start and span_end <= end:
            out += [
                text[position : found[span_start].start()],
                marks[0],
                text[found[span_start].start() : found[span_end].end()],
                marks[1],
            ]
            position = found[span_end].end()
    out.append(text[position : found[end].end()])
    out.append(text[found[end].end() :] if end == len(found) - 1 else ellipsis)
    return "".join(out)


def highlight(
    text: str,
    terms: list[Term],
    column: str,
    marks: tuple[str, str],
    *,
    window: int = 12,
    ellipsis: str = "…",
) -> tuple[str, int]:
    """A snippet of one column's `text` with the terms' matches highlighted (see
    `render`), and how many terms matched (0: the snippet is the start)."""
    per_term = find_terms(folded_words(text), terms, column)
    spans = [span for spans in per_term for span in spans]
    snippet = render(text, spans, marks, window=window, ellipsis=ellipsis)
    return snippet, sum(1 for spans in per_term if spans)
