"""The gallery's item model: ids in display order, rows fetched lazily in batches.

`data()` never touches the database: a row not yet loaded shows as a placeholder
and its id joins a batch that one background task reads (a screenful at a time);
when the rows land, only their cells repaint. A new id list (another view, a
search, a rescan) bumps a serial so that rows or lists from an older request are
dropped instead of painting over the new one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

from app.core.gallery import GalleryRow, gallery_rows
from app.core.storage.db import Database
from app.services.background import Background
from app.services.changes import Changes
from app.ui.words import why_it_matched

ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the GalleryRow, or None while loading
ID_ROLE = Qt.ItemDataRole.UserRole + 2
HIT_ROLE = Qt.ItemDataRole.UserRole + 3  # the search hit (snippet, moment) if any
FETCH_BATCH = 400  # rows per background read
ROW_CACHE = 4000  # rows kept (~40 screens); scrolled-away ones are read again if needed
Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class HitInfo:
    """Why a search result matched: its snippet and, for a video moment, when. `match`
    is "keyword" (the snippet highlights the words), "semantic" (the snippet is the
    caption or moment whose meaning matched) or "both"."""

    snippet: str
    timestamp: float | None
    match: str = "keyword"

    @property
    def by_meaning_only(self) -> bool:
        return self.match == "semantic"


class GalleryModel(QAbstractListModel):
    rows_loaded = Signal(list)  # item ids whose rows just arrived

    def __init__(self, db: Database, background: Background, parent: QObject | None = None):
        super().__init__(parent)
        self._db = db
        self._background = background
        self._ids: list[int] = []
        self._position: dict[int, int] = {}
        self._hits: dict[int, HitInfo] = {}
        self._rows: OrderedDict[int, GalleryRow] = OrderedDict()  # oldest use first
        self._wanted: set[int] = set()
        self._in_flight: set[int] = set()
        self._serial = 0
        self._fetch_timer = QTimer(self, singleShot=True, interval=0)
        self._fetch_timer.timeout.connect(self._fetch)

    # -- contents -----------------------------------------------------------------------
    def set_ids(self, ids: Sequence[int], hits: dict[int, HitInfo] | None = None) -> None:
        """Show these items in this order; rows already loaded are kept (a refresh
        of the same view repaints nothing until fresh rows arrive)."""
        self.beginResetModel()
        self._serial += 1
        self._ids = list(ids)
        self._position = {item_id: n for n, item_id in enumerate(self._ids)}
        self._hits = hits or {}
        keep = self._position.keys()
        self._rows = OrderedDict((k, v) for k, v in self._rows.items() if k in keep)
        self._wanted.clear()
        self._in_flight.clear()
        self.endResetModel()

    def ids(self) -> list[int]:
        return list(self._ids)

    def row_of(self, item_id: int) -> GalleryRow | None:
        return self._rows.get(item_id)

    def cached_rows(self) -> int:
        """How many rows are held in memory (at most ROW_CACHE)."""
        return len(self._rows)

    def index_of(self, item_id: int) -> QModelIndex:
        position = self._position.get(item_id)
        return QModelIndex() if position is None else self.index(position)

    def has_hits(self) -> bool:
        return bool(self._hits)

    def found_by_meaning(self) -> int:
        """How many listed hits were found by meaning only (shown with ≈)."""
        return sum(1 for hit in self._hits.values() if hit.by_meaning_only)

    def hit_of(self, item_id: int) -> HitInfo | None:
        return self._hits.get(item_id)

    def refresh_rows(self, item_ids: Sequence[int]) -> None:
        """Re-read these rows (a caption was stored, a job started): they keep showing
        their old contents until the new ones arrive."""
        wanted = [i for i in item_ids if i in self._position]
        self._wanted.update(wanted)
        if wanted:
            self._fetch_timer.start()

    def refresh_all_rows(self) -> None:
        """Everything may have changed: re-read the rows used last (on screen and
        near it) and forget the rest, which are read again when scrolled to."""
        recent = list(self._rows)[-FETCH_BATCH:]
        stale = len(self._rows) - len(recent)
        for _ in range(stale):
            self._rows.popitem(last=False)
        self.refresh_rows(recent)

    def apply_changes(self, changes: Changes) -> None:
        if changes.all_items:
            self.refresh_all_rows()
        elif changes.items:
            self.refresh_rows(list(changes.items))

    # -- Qt model API -------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._ids)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= len(self._ids):
            return None
        item_id = self._ids[index.row()]
        if role == ID_ROLE:
            return item_id
        if role == HIT_ROLE:
            return self._hits.get(item_id)
        row = self._rows.get(item_id)
        if row is None:
            if item_id not in self._in_flight:
                self._wanted.add(item_id)
                self._fetch_timer.start()
        else:
            self._rows.move_to_end(item_id)
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.DisplayRole:
            return row.name if row else ""
        if role == Qt.ItemDataRole.ToolTipRole and row is not None:
            hit = self._hits.get(item_id)
            tip = _tooltip(row)
            return f"{why_it_matched(hit.match, hit.snippet)}\n\n{tip}" if hit else tip
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # -- lazy rows ----------------------------------------------------------------------
    def _fetch(self) -> None:
        if not self._wanted:
            return
        # The view asks only for the cells it paints, so this is what is on screen.
        batch = list(self._wanted)[:FETCH_BATCH]
        self._wanted.difference_update(batch)
        self._in_flight.update(batch)
        serial = self._serial
        db = self._db
        self._background.run(
            lambda: (serial, gallery_rows(db, batch), batch),
            self._rows_arrived,
            lambda _message: self._in_flight.difference_update(batch),
        )
        if self._wanted:
            self._fetch_timer.start()

    def _rows_arrived(self, result: tuple[int, dict[int, GalleryRow], list[int]]) -> None:
        serial, rows, asked = result
        if serial != self._serial:
            return  # another list is shown now
        self._in_flight.difference_update(asked)
        self._rows.update(rows)
        while len(self._rows) > ROW_CACHE:  # a scroll through 100,000 items
            self._rows.popitem(last=False)
        positions = sorted(self._position[i] for i in rows if i in self._position)
        # One dataChanged per contiguous run keeps repaints to the cells that changed.
        for first, last in _runs(positions):
            self.dataChanged.emit(self.index(first), self.index(last))
        self.rows_loaded.emit(list(rows))


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for p in positions:
        if runs and runs[-1][1] == p - 1:
            runs[-1] = (runs[-1][0], p)
        else:
            runs.append((p, p))
    return runs


def badge_meaning(row: GalleryRow) -> str:
    """The caption badge in words (the badge's glyph and colour say the same)."""
    if row.source == "user":
        return "✎ Me: your own caption"
    if row.needs_review:
        return "AI ? : the AI's caption, not reviewed yet (Accept or edit it)"
    return "AI ✓: the AI's caption, reviewed"


def _tooltip(row: GalleryRow) -> str:
    lines = [row.name]
    if row.caption:
        lines.append(row.caption)
        lines.append(badge_meaning(row))
    if row.tags:
        lines.append("Tags: " + ", ".join(row.tags))
    if row.state == "error" and row.error:
        lines.append(f"Could not read: {row.error}")
    elif row.job == "failed" and row.job_error:
        lines.append(f"Captioning failed: {row.job_error}")
    return "\n".join(lines)
