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
    "WAITING_FOR_MODEL",
    "counted",
    "model_name",
    "plural",
    "queued_badge",
    "set_waiting_for_model",
    "waiting_for_model",
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
