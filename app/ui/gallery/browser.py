"""What the gallery lists: a smart view, a folder, or search results within them.

The id lists are computed on the background pool; a serial drops answers to
requests the user has already moved on from (typing, clicking another view).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtCore import QObject, QTimer, Signal

from app.core.gallery import GalleryQuery, gallery_ids, view_counts
from app.core.search import search
from app.core.storage.db import Database
from app.services.background import Background
from app.services.changes import Changes
from app.ui.gallery.model import GalleryModel, HitInfo

SEARCH_DEBOUNCE_MS = 200
COUNTS_COALESCE_MS = 1000
SEARCH_LIMIT = 5000
SEARCH_HELP = (
    "Search captions, tags and file names:\n"
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

    @property
    def searching(self) -> bool:
        return bool(self.text.strip())


class Browser(QObject):
    listed = Signal(object, int)  # Listing, how many items
    counts_loaded = Signal(dict)
    failed = Signal(str)

    def __init__(
        self,
        db: Database,
        background: Background,
        model: GalleryModel,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._background = background
        self._model = model
        self.listing = Listing()
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
            self.listing, query=replace(self.listing.query, view=view, root_id=root_id)
        )
        self.reload()

    def set_sort(self, sort: str, descending: bool) -> None:
        self.listing = replace(
            self.listing, query=replace(self.listing.query, sort=sort, descending=descending)
        )
        self.reload()

    def set_search_text(self, text: str) -> None:
        """Typing: search once the user pauses (debounced)."""
        self.listing = replace(self.listing, text=text)
        self._search_timer.start()

    def reload(self) -> None:
        self._search_timer.stop()
        self._serial += 1
        serial, listing, db = self._serial, self.listing, self._db

        def load() -> tuple[int, Listing, list[int], dict[int, HitInfo]]:
            ids = gallery_ids(db, listing.query)
            if not listing.searching:
                return serial, listing, ids, {}
            return serial, listing, *_search_within(db, listing, set(ids))

        self._background.run(load, self._loaded, self.failed.emit)

    def reload_counts(self) -> None:
        self._counts_timer.stop()
        db = self._db
        self._background.run(lambda: view_counts(db), self.counts_loaded.emit, self.failed.emit)

    def _loaded(self, result: tuple[int, Listing, list[int], dict[int, HitInfo]]) -> None:
        serial, listing, ids, hits = result
        if serial != self._serial:
            return
        if not hits and not self._model.has_hits() and ids == self._model.ids():
            # The same list (a rescan, a caption stored): keep scroll and selection.
            self._model.refresh_all_rows()
        else:
            self._model.set_ids(ids, hits)
        self.listed.emit(listing, len(ids))


def _search_within(
    db: Database, listing: Listing, shown: set[int]
) -> tuple[list[int], dict[int, HitInfo]]:
    """Ranked search hits among the items of the current view, one per item (its best
    hit: a video's matching moment carries its timestamp)."""
    hits = search(db, listing.text, limit=SEARCH_LIMIT, as_you_type=True, highlight=("«", "»"))
    ids: list[int] = []
    info: dict[int, HitInfo] = {}
    for hit in hits:
        if hit.item_id in info or hit.item_id not in shown:
            continue
        ids.append(hit.item_id)
        info[hit.item_id] = HitInfo(hit.snippet, hit.timestamp)
    return ids, info
