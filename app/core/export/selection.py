"""Which items an export covers: the whole library, a search query, a gallery view or
a list of ids (the user's selection)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.core.gallery import GalleryQuery
from app.core.listing import listed_ids, search_ids
from app.core.storage.db import Database


@dataclass(frozen=True, slots=True)
class Selection:
    """Item ids in the order they are exported, or None for the whole library (id order,
    streamed without listing the ids first)."""

    item_ids: tuple[int, ...] | None = None
    description: str = "the whole library"

    @classmethod
    def whole_library(cls) -> Selection:
        return cls()

    @classmethod
    def of_ids(cls, item_ids: Iterable[int], description: str = "the selection") -> Selection:
        return cls(tuple(dict.fromkeys(item_ids)), description)

    @classmethod
    def of_query(cls, db: Database, text: str) -> Selection:
        """Every item a search finds (an item matching in several moments once, at its
        best hit); an empty query is the whole library."""
        if not text.strip():
            return cls()
        return cls.of_ids(search_ids(db, text), f"the search {text!r}")

    @classmethod
    def of_view(cls, db: Database, query: GalleryQuery) -> Selection:
        return cls.of_ids(listed_ids(db, query), f"the view {query.view!r}")
