"""What the gallery lists: a smart view, a folder, or search results within them, or
the items similar in meaning to one item ("Find similar").

The id lists are computed on the background pool; a serial drops answers to
requests the user has already moved on from (typing, clicking another view). Searches
go through the window's `Finder` (app.services.search_service): keyword and meaning
fused, with a notice when meaning could not be used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6.QtCore import QObject, QTimer, Signal

from app.core.gallery import GalleryQuery, gallery_ids, view_counts
from app.core.listing import listed_ids, similar_ids
from app.core.search import SearchHit
from app.core.semantic.hybrid import Finder
from app.core.storage.db import Database
from app.services.background import Background
from app.services.changes import Changes
from app.ui.gallery.model import GalleryModel, HitInfo

SEARCH_DEBOUNCE_MS = 200
COUNTS_COALESCE_MS = 1000
SEARCH_LIMIT = 5000
# By meaning every captioned item is *somewhat* similar: a search lists all its keyword
# hits but only this many nearest by meaning (tests/benchmarks/bench_window_search.py:
# without the cap a search ranked the whole library, ~200 ms at 2,000 items).
MEANING_LIMIT = 200
# ... and only those within this cosine of the nearest: a search for "kitten" lists the
# cat, not the cat and then every other photo. Not calibrated on a real model yet.
MEANING_GAP = 0.2
SIMILAR_LIMIT = 200  # "Find similar": the nearest, not a ranking of the whole library
SEARCH_HELP = (
    "Search captions, tags and file names — and by meaning, when an embedding model\n"
    "is set up (a puppy on the sand is found by “dog beach”, in other languages too):\n"
    '  beach dog — both words      beac* — a prefix      "red car" — a phrase\n'
    "  cat OR dog — either      -cat — without\n"
    "  tag:sunset · folder:2024 · type:video · type:photo · by:me · by:ai\n"
    "  after:2024-05 · before:2023-12-31 — by date taken"
)


@dataclass(frozen=True)
class Listing:
    """What the user asked to see."""

    query: GalleryQuery = GalleryQuery()
    text: str = ""
    similar_to: int | None = None  # "Find similar": the items nearest this one in meaning
    similar_name: str = ""  # that item's file name, for "Similar to IMG_0001.jpg"

    @property
    def searching(self) -> bool:
        return bool(self.text.strip())

    @property
    def similar(self) -> bool:
        return self.similar_to is not None


# What a load found: (serial, listing, ids, hits, notice)
Loaded = tuple[int, Listing, list[int], dict[int, HitInfo], str]


class Browser(QObject):
    listed = Signal(object, int)  # Listing, how many items
    counts_loaded = Signal(dict)
    failed = Signal(str)
    # Why a worded search is keyword-only ("" when meaning was used or nothing typed).
    notice_changed = Signal(str)
    similar_refused = Signal(str)  # "Find similar" could not run: why, in words

    def __init__(
        self,
        db: Database,
        background: Background,
        model: GalleryModel,
        finder: Callable[[], Finder],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._background = background
        self._model = model
        self._finder = finder  # the window's, read at each search (tests replace it)
        self.listing = Listing()
        self._before_similar = self.listing
        self.notice = ""
        self._serial = 0
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self.reload)
        # Captions arrive one by one: recount the views at most once a second.
        self._counts_timer = QTimer(self, singleShot=True, interval=COUNTS_COALESCE_MS)
        self._counts_timer.timeout.connect(self.reload_counts)

    def apply_changes(self, changes: Changes) -> None:
        if changes.listing:
            self.reload()
        if changes.folders:
            self.reload_counts()
        elif changes.counts and not self._counts_timer.isActive():
            self._counts_timer.start()

    def show_view(self, view: str, root_id: int | None) -> None:
        self.listing = replace(
            self.listing,
            query=replace(self.listing.query, view=view, root_id=root_id),
            similar_to=None,
        )
        self.reload()

    def show_similar(self, item_id: int, name: str) -> None:
        """The items of this view nearest in caption meaning to `item_id`; if that cannot
        be done (no embedding model, no caption yet) the listing stays and
        `similar_refused` says why."""
        self._before_similar = replace(self.listing, similar_to=None, similar_name="")
        self.listing = replace(self.listing, text="", similar_to=item_id, similar_name=name)
        self.reload()

    def leave_similar(self) -> None:
        """Back to the view (the toolbar's link, Escape)."""
        if self.listing.similar:
            self.listing = replace(self.listing, similar_to=None, similar_name="")
            self.reload()

    def set_sort(self, sort: str, descending: bool) -> None:
        self.listing = replace(
            self.listing, query=replace(self.listing.query, sort=sort, descending=descending)
        )
        self.reload()

    def set_search_text(self, text: str) -> None:
        """Typing: search once the user pauses (debounced)."""
        self.listing = replace(self.listing, text=text)
        if text.strip():
            self.listing = replace(self.listing, similar_to=None, similar_name="")
        self._search_timer.start()

    def reload(self) -> None:
        self._search_timer.stop()
        self._serial += 1
        serial, listing, db = self._serial, self.listing, self._db
        finder = self._finder() if listing.searching or listing.similar else None

        def load() -> Loaded:
            ids = gallery_ids(db, listing.query)
            if finder is None:
                return serial, listing, ids, {}, ""
            return serial, listing, *_search_within(finder, listing, set(ids))

        self._background.run(load, self._loaded, self.failed.emit)

    def reload_counts(self) -> None:
        self._counts_timer.stop()
        db = self._db
        self._background.run(lambda: view_counts(db), self.counts_loaded.emit, self.failed.emit)

    def _loaded(self, result: Loaded) -> None:
        serial, listing, ids, hits, notice = result
        if serial != self._serial:
            return
        if listing.similar and notice and not ids:
            # Nothing to compare with: stay where the user was, and say why.
            self.listing = self._before_similar
            self.similar_refused.emit(notice)
            self.reload()
            return
        shown_notice = notice if listing.searching else ""
        if shown_notice != self.notice:
            self.notice = shown_notice
            self.notice_changed.emit(shown_notice)
        if not hits and not self._model.has_hits() and ids == self._model.ids():
            # The same list (a rescan, a caption stored): keep scroll and selection.
            self._model.refresh_all_rows()
        else:
            self._model.set_ids(ids, hits)
        self.listed.emit(listing, len(ids))


def _search_within(
    finder: Finder, listing: Listing, shown: set[int]
) -> tuple[list[int], dict[int, HitInfo], str]:
    """Ranked hits among the items of the current view, one per item (its best hit: a
    video's matching moment carries its timestamp), each with why it matched; and the
    notice when meaning could not be used."""
    if listing.similar_to is not None:
        found = finder.similar(listing.similar_to, limit=SIMILAR_LIMIT, meaning_gap=MEANING_GAP)
    else:
        found = finder.find(
            listing.text,
            limit=SEARCH_LIMIT,
            as_you_type=True,
            highlight=("«", "»"),
            meaning_limit=MEANING_LIMIT,
            meaning_gap=MEANING_GAP,
        )
    ids: list[int] = []
    info: dict[int, HitInfo] = {}
    for hit in found.hits:
        if hit.item_id in info or hit.item_id not in shown:
            continue
        ids.append(hit.item_id)
        info[hit.item_id] = hit_info(hit)
    return ids, info, found.notice


def listing_ids(db: Database, listing: Listing, finder: Finder | None) -> list[int]:
    """The ids the gallery lists for this listing, as the browser lists them: what
    "All N in this view" acts on (app.ui.gallery.recaption_listing)."""
    if listing.similar_to is not None:
        if finder is None:
            return []
        shown = set(gallery_ids(db, listing.query))
        near = similar_ids(finder, listing.similar_to, limit=SIMILAR_LIMIT, meaning_gap=MEANING_GAP)
        return [i for i in near if i in shown]
    return listed_ids(
        db,
        listing.query,
        listing.text,
        limit=SEARCH_LIMIT,
        as_you_type=True,
        finder=finder,
        meaning_limit=MEANING_LIMIT,
        meaning_gap=MEANING_GAP,
    )


def hit_info(hit: SearchHit) -> HitInfo:
    return HitInfo(hit.snippet, hit.timestamp, hit.match)
