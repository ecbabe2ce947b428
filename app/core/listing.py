"""Which items a search or a gallery view stands for, as ids: what export, "Caption
again with…" for a whole view and `captionist caption --query` act on.

One resolution for all of them, so that "the 312 items this search shows" means the
same items whichever command is given them. Qt-free; call it off the GUI thread (a
view of 100,000 items is one indexed scan, a search a few ms to a second).
"""

from __future__ import annotations

from collections.abc import Sequence

from app.core.gallery import GalleryQuery, gallery_ids
from app.core.search import MAX_LIMIT, SearchHit, search
from app.core.semantic.hybrid import Finder
from app.core.storage import item_rows
from app.core.storage.db import Database


def search_ids(
    db: Database,
    text: str,
    *,
    limit: int = MAX_LIMIT,
    as_you_type: bool = False,
    finder: Finder | None = None,
    meaning_limit: int | None = None,
    meaning_gap: float | None = None,
) -> list[int]:
    """Every item a search finds, once each (a video matching in several moments at its
    best hit), in the search's order. An empty query finds nothing. With a `finder`
    (the window's), the search is its hybrid one, keyword and meaning fused, as the
    gallery lists it; without, keyword search (the CLI's default without a model)."""
    hits: list[SearchHit]
    if finder is None:
        hits = search(db, text, limit=limit, as_you_type=as_you_type, highlight=("", ""))
    else:
        hits = finder.find(
            text,
            limit=limit,
            as_you_type=as_you_type,
            highlight=("", ""),
            meaning_limit=meaning_limit,
            meaning_gap=meaning_gap,
        ).hits
    return list(dict.fromkeys(hit.item_id for hit in hits))


def similar_ids(
    finder: Finder, item_id: int, *, limit: int, meaning_gap: float | None = None
) -> list[int]:
    """The items nearest in caption meaning to this one (not itself), nearest first."""
    found = finder.similar(item_id, limit=limit, meaning_gap=meaning_gap)
    return [hit.item_id for hit in found.hits]


def listed_ids(
    db: Database,
    query: GalleryQuery,
    text: str = "",
    *,
    limit: int = MAX_LIMIT,
    as_you_type: bool = False,
    finder: Finder | None = None,
    meaning_limit: int | None = None,
    meaning_gap: float | None = None,
) -> list[int]:
    """What the gallery lists for a view and the search typed over it: the view's items
    in display order, or with a search, the hits among them in the search's order
    (as `app.ui.gallery.browser` lists them; pass its limit to match it exactly)."""
    ids = gallery_ids(db, query)
    if not text.strip():
        return ids
    shown = set(ids)
    found = search_ids(
        db,
        text,
        limit=limit,
        as_you_type=as_you_type,
        finder=finder,
        meaning_limit=meaning_limit,
        meaning_gap=meaning_gap,
    )
    return [i for i in found if i in shown]


def count_user_captioned(db: Database, item_ids: Sequence[int]) -> int:
    """How many of these items have a caption the user wrote (which a new model caption
    will not replace): said in the confirmation before re-captioning them."""
    with db.read() as conn:
        return item_rows.count_user_captioned(conn, item_ids)
