"""The library facade used by the CLI and the GUI: roots, scans, status.

Removing a folder never deletes what the user wrote: its items are marked missing
(and come back with their captions if the folder is added again) unless the
caller asks to purge.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from app.core.jobs import JobQueue
from app.core.library.reconcile import ScanReport
from app.core.library.roots import RootInfo, folder_text, is_within, load_roots
from app.core.library.scanner import Indexer, Progress, no_progress
from app.core.library.walk import never_stop
from app.core.settings_upgrade import open_settings
from app.core.storage import root_rows
from app.core.storage.bulk import update_from_rows
from app.core.storage.db import Database, now
from app.core.storage.item_rows import (
    library_counts,
    paths_in_root,
    purge_missing,
    remove_from_library,
    restore_removed,
)
from app.core.storage.root_rows import (
    delete_root,
    disable_root,
    enable_root,
    insert_root,
    reenable_root,
    root_item_states,
    root_summary,
)
from app.core.storage.schema import Root
from app.core.storage.states import OUT_OF_LIBRARY


def _absorb(conn: Connection, inner: RootInfo, outer: RootInfo) -> None:
    """Move a root's items under a new root that contains it: their folder text is
    relative to the root, so it is recomputed (the search index follows)."""
    items = paths_in_root(conn, inner.id)
    update_from_rows(
        conn,
        ("root_id", "folder"),
        [(item_id, outer.id, folder_text(path, outer)) for item_id, path in items],
        "root_id = s.root_id, folder = s.folder",
    )
    delete_root(conn, inner.id)


@dataclass(frozen=True, slots=True)
class RootRemoval:
    """What `Library.remove_root` changed, so that `restore_root` can take it back."""

    root_id: int
    states: tuple[tuple[int, str], ...]  # (item id, state before the removal)

    @property
    def items(self) -> int:
        """How many of the folder's items were in the library."""
        return sum(1 for _id, state in self.states if state not in OUT_OF_LIBRARY)


class LibraryError(Exception):
    """A request the library cannot carry out, with a user-facing reason."""


@dataclass(frozen=True, slots=True)
class LibraryStatus:
    items: int
    photos: int
    videos: int
    captioned: int
    queued: int
    running: int
    errors: int
    missing: int


class Library:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.settings = open_settings(db)  # upgraded and checked once, at open
        self.jobs = JobQueue(db)
        self.indexer = Indexer(db, self.settings)

    # -- roots ----------------------------------------------------------------------
    def add_root(self, path: str | os.PathLike[str] | bytes) -> RootInfo:
        """Add a folder (idempotent). A folder inside an existing root is already in
        the library; a folder that contains existing roots absorbs them."""
        raw = os.path.realpath(os.fsencode(path))
        if not os.path.isdir(raw):
            raise LibraryError(f"not a folder: {os.fsdecode(raw)}")
        with self.db.write() as conn:
            roots = load_roots(conn, enabled_only=False)
            for root in roots:
                if root.path == raw or is_within(raw, root.path):
                    enable_root(conn, root.id)
                    return root
            root_id = insert_root(conn, raw, now())
            root = RootInfo(root_id, raw, os.path.basename(raw) or raw)
            for inner in roots:
                if is_within(inner.path, raw):
                    _absorb(conn, inner, root)
        return root

    def remove_root(self, root_id: int, *, purge: bool = False) -> RootRemoval:
        """Take a folder out of the library. Without `purge` nothing is deleted: its
        items leave every view with their captions kept, and come back with them when
        the folder is added again (or at once with `restore_root`)."""
        with self.db.write() as conn:
            states = tuple(root_item_states(conn, root_id))
            if purge:
                delete_root(conn, root_id)
            else:
                disable_root(conn, root_id)
        return RootRemoval(root_id, states)

    def restore_root(self, removal: RootRemoval) -> list[int]:
        """Undo `remove_root` (not a purge): the folder is back and its items are as
        they were, their suspended caption jobs queued again. Returns those items."""
        with self.db.write() as conn:
            return reenable_root(conn, removal.root_id, list(removal.states), now())

    def root_summary(self, root_id: int) -> tuple[str, int] | None:
        """(path, how many items in the library) of a folder; None if it is unknown."""
        with self.db.read() as conn:
            found = root_summary(conn, root_id)
        return None if found is None else (os.fsdecode(found[0]), found[1])

    def roots(self) -> list[Root]:
        with self.db.session() as session:
            return list(session.scalars(select(Root).where(Root.enabled).order_by(Root.path)))

    def set_watch_state(self, root_id: int, state: str, note: str | None = None) -> None:
        with self.db.write() as conn:
            root_rows.set_watch_state(conn, root_id, state, note)

    # -- scanning ---------------------------------------------------------------------
    def scan(
        self,
        root_id: int,
        *,
        should_stop: Callable[[], bool] = never_stop,
        progress: Progress = no_progress,
    ) -> ScanReport:
        return self.indexer.scan_root(root_id, should_stop=should_stop, progress=progress)

    def purge_missing(self) -> int:
        """Forget missing items for good (their captions go too): explicit only."""
        with self.db.write() as conn:
            return purge_missing(conn)

    def remove_items(self, item_ids: Sequence[int]) -> int:
        """ "Remove from library": hidden from every view and search, captions kept,
        open caption jobs cancelled; a rescan leaves the unchanged file removed."""
        with self.db.write() as conn:
            return remove_from_library(conn, item_ids, now())

    def restore_items(self, item_ids: Sequence[int]) -> int:
        """Undo `remove_items`: the items come back as they were (probed or not)."""
        with self.db.write() as conn:
            return restore_removed(conn, item_ids)

    # -- status -----------------------------------------------------------------------
    def status(self) -> LibraryStatus:
        with self.db.read() as conn:
            row = library_counts(conn)
        counts = self.jobs.counts()
        return LibraryStatus(
            items=row[0],
            photos=row[1],
            videos=row[2],
            captioned=row[3],
            queued=counts.get("queued", 0),
            running=counts.get("running", 0),
            errors=row[4],
            missing=row[5],
        )
