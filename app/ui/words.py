"""Words the window shares: counts with the noun that fits, models by their display
name, and what a queued item's badge says.

`counted` is the one plural rule (app.core.text); the UI imports it from here so a
view never hand-rolls a parenthesised plural.
"""

from __future__ import annotations

import contextlib
import functools

from app.core.text import counted, plural

__all__ = [
    "QUEUED",
    "SIMILAR_MARK",
    "WAITING_FOR_MODEL",
    "MEANING_LEGEND",
    "counted",
    "found_by_meaning",
    "meaning_failed",
    "meaning_progress",
    "model_name",
    "plural",
    "queued_badge",
    "search_notice",
    "set_waiting_for_model",
    "similar_cell_text",
    "similar_count",
    "similar_scope",
    "waiting_for_model",
    "why_it_matched",
]

QUEUED = "Queued"
WAITING_FOR_MODEL = "Waiting for a model"

_state = {"waiting_for_model": False}


def set_waiting_for_model(waiting: bool) -> bool:
    """The worker has no model (True) or has one again; returns True if this changed."""
    changed = _state["waiting_for_model"] != waiting
    _state["waiting_for_model"] = waiting
    return changed


def waiting_for_model() -> bool:
    return _state["waiting_for_model"]


def queued_badge() -> str:
    """What a queued item's thumbnail badge says: nothing is captioned without a model."""
    return WAITING_FOR_MODEL if _state["waiting_for_model"] else QUEUED


@functools.cache
def _catalog_names() -> dict[str, str]:
    from models.catalog import load_catalog
    from models.embedding_catalog import load_embedding_catalog
    from models.errors import CatalogError

    names: dict[str, str] = {}
    for load in (load_catalog, load_embedding_catalog):
        with contextlib.suppress(CatalogError):  # a broken catalog: ids as they are
            names.update({entry.id: entry.name for entry in load()})
    return names


def model_name(model_id: str) -> str:
    """ "SmolVLM2 500M Video" for "smolvlm2-500m" (and an embedding model's name for its
    id); an unknown id as it is."""
    return _catalog_names().get(model_id, model_id)


# -- search by meaning (issue 14) ---------------------------------------------------------
SIMILAR_MARK = "≈"  # a hit found by meaning, not by its words


def similar_cell_text(snippet: str) -> str:
    """A meaning-only hit under its thumbnail: "≈" marked (drawn like a matched word,
    app.ui.gallery.snippet), then the caption or moment whose meaning matched."""
    return f"«{SIMILAR_MARK}» {snippet}"


def why_it_matched(match: str, snippet: str) -> str:
    """The tooltip's line about a search hit: what it was found by."""
    plain = snippet.replace("«", "").replace("»", "")
    if match == "semantic":
        return f"{SIMILAR_MARK} similar meaning: {plain}" if plain else "Similar meaning"
    if match == "both":
        return f"Matched your words and their meaning: {plain}"
    return f"Matched your words: {plain}"


NO_MEANING_MODEL = "Keyword search only"


def search_notice(notice: str) -> tuple[str, str, str]:
    """A search's Found.notice as (short text beside the search box, its tooltip, tone).
    Without an embedding model the app works fine, so that hint is a quiet one; a model
    still reading captions or a failed query process says a little more."""
    if not notice:
        return "", "", "muted"
    if notice.startswith(NO_MEANING_MODEL):  # app.core.semantic.hybrid._why_no_meaning
        return "Words only", notice, "muted"
    if "getting ready" in notice:
        return "Meaning: getting ready", notice, "muted"
    return "Meaning unavailable", notice, "warn"


MEANING_LEGEND = (
    f"{SIMILAR_MARK} marks what was found by meaning: its caption means something like "
    "your words without containing them"
)


def found_by_meaning(count: int) -> str:
    """Beside the count of matches: how many of them were found by meaning."""
    return f"{SIMILAR_MARK} {count:,} by meaning"


def similar_scope(name: str) -> str:
    return f"Similar to {name}"


def similar_count(count: int) -> str:
    return f"{count:,} similar"


def meaning_progress(model: str, pending: int, ready: bool) -> str:
    """The activity panel's line about search by meaning (EmbeddingProgress)."""
    if pending:
        verb = "reading captions" if ready else "getting ready, reading captions"
        return f"Search by meaning: {verb} — {pending:,} left"
    return f"Search by meaning ready ({model})"


def meaning_failed(message: str) -> str:
    return f"Search by meaning is off: {message}"
