"""Bringing the database in line with what is on disk, in batches.

Shared by full scans and the watcher. Given files seen on disk (and files known to
be gone) it sorts them into new, changed, returned, moved and missing, and writes
each kind in bulk. A moved or renamed file keeps its item row — and so its
captions and history — when its size and head/tail fingerprint match an item that
just vanished or was already missing. So does a missing file that comes back to its
own path, whatever its modification time says (a plain `cp` from a backup sets a new
one): the same content is the same item; other content there is a changed item,
which keeps the user's caption as any changed file does — unless that content is
another missing item's, moved here.

How the writes are shaped matters more than anything else here: they are
buffered and sent through the bulk statements of `app.core.storage.bulk`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection

from app.core.library.fingerprint import fingerprint
from app.core.library.roots import Placer, RootInfo, display_text, release_path
from app.core.library.walk import Found
from app.core.os_errors import PERMISSION_DENIED
from app.core.storage.bulk import NewItem, insert_items, update_from_rows, update_ids
from app.core.storage.db import Database, now
from app.core.storage.item_rows import mark_missing
from app.core.storage.known_items import (
    KnownItem,
    KnownRow,
    first_new_id,
    known_rows,
    sizes_taken,
)
from app.core.storage.states import RESTORED_STATE, ItemState

WRITE_BATCH = 1000  # files per write transaction


@dataclass(frozen=True, slots=True)
class ItemError:
    path: str
    reason: str


@dataclass
class ScanReport:
    new: int = 0
    changed: int = 0
    moved: int = 0
    missing: int = 0
    returned: int = 0  # a missing file back where it was, the same file (captions and all)
    unchanged: int = 0
    probed: int = 0
    imported: int = 0  # captions other apps wrote (XMP, IPTC, EXIF), taken in as the user's
    errors: list[ItemError] = field(default_factory=list)

    def add_error(self, path: bytes | str, reason: str) -> None:
        text = display_text(path) if isinstance(path, bytes) else path
        self.errors.append(ItemError(text, reason))


# -- the reconciler ----------------------------------------------------------------------
class Reconciler:
    """One pass of reconciliation. Feed it with `seen`, then call `finish`.

    Writes are buffered and committed every `WRITE_BATCH` files, each batch in its
    own short transaction, so a long scan never keeps the caption worker or the GUI
    from writing, and items appear in the library while the scan goes on.
    """

    def __init__(self, db: Database, roots: list[RootInfo], report: ScanReport) -> None:
        self._db = db
        self._placer = Placer(roots)
        self.report = report
        self._buffered = 0
        # Files not known at their path, not yet sorted: a file whose size matches an
        # item that existed before this pass could be that item moved (from this
        # root, or from another one not rescanned yet), which is only known once the
        # pass has seen everything. The others are inserted.
        self._unsorted: list[Found] = []
        self._maybe_moved: list[Found] = []
        # Missing items whose path has a file again that differs in size or
        # modification time: the same file (restored), another, or another item's.
        self._reappeared: list[tuple[Found, KnownRow]] = []
        self._gone: list[int] = []  # items whose files vanished: marked missing
        self._inserts: list[NewItem] = []
        self._id_updates: dict[str, list[int]] = defaultdict(list)  # assignments -> ids
        self._changed: list[tuple[int, int, int]] = []  # (id, size, mtime_ns)
        self._moves: list[tuple[object, ...]] = []  # (id, root_id, path, name, folder, mtime)
        with db.read() as conn:
            # Items from this id on were added by this pass: never move candidates.
            self._first_new_id = first_new_id(conn)
        # Items that were gone and are back (returned in place, or moved back in):
        # the caller re-queues the uncaptioned ones, whose jobs may have been cancelled.
        self.back_ids: list[int] = []

    def seen(self, found: Found, known: KnownRow | None) -> None:
        """A media file on disk, and what the database knew at its path."""
        if known is None:
            self._unsorted.append(found)
            self._count()
            return
        _path, item_id, size, mtime_ns, state, last_error, _print = known
        if state == ItemState.MISSING or (size, mtime_ns) != (found[2], found[3]):
            self._update_changed(found, known)
            return
        self.report.unchanged += 1
        if state == ItemState.ERROR and last_error == PERMISSION_DENIED:
            # chmod changes neither size nor mtime: try an unreadable file again.
            self._update_id("state = 'new', last_error = NULL", item_id)

    def finish(self, vanished: list[KnownItem]) -> None:
        """Match possible moves, insert the rest, mark what is gone as missing."""
        with self._db.read() as conn:
            self._sort_unsorted(conn)
        candidates = self._move_candidates(vanished)
        # Items that found their file again: no move may take them elsewhere.
        moved_ids = self._restore_reappeared()
        for found in self._maybe_moved:
            origin = self._match_move(found, candidates.get(found[2], []), moved_ids)
            if origin is None:
                self._insert(found)
            else:
                moved_ids.add(origin.id)
                self._move(origin, found)
        self._maybe_moved.clear()
        self._sort_reappeared(candidates, moved_ids)
        for k in vanished:
            if k.id not in moved_ids and k.state != ItemState.MISSING:
                self._gone.append(k.id)
                self._count()
                self.report.missing += 1
        self.flush()

    def flush(self) -> None:
        """Write everything buffered in one transaction."""
        if not self._buffered:
            return
        with self._db.write() as conn:
            self._sort_unsorted(conn)
            if self._inserts:
                insert_items(conn, self._inserts)
            for assignments, ids in self._id_updates.items():
                update_ids(conn, assignments, ids)
            update_from_rows(
                conn,
                ("size", "mtime_ns"),
                self._changed,
                """size = s.size, mtime_ns = s.mtime_ns, fingerprint = NULL, width = NULL,
                   height = NULL, duration = NULL, state = 'new', last_error = NULL""",
            )
            mark_missing(conn, self._gone, now())
            update_from_rows(
                conn,
                ("root_id", "path", "name", "folder", "mtime_ns"),
                self._moves,
                f"""root_id = s.root_id, path = s.path, name = s.name, folder = s.folder,
                    mtime_ns = s.mtime_ns, state = {RESTORED_STATE}""",
            )
        self._inserts.clear()
        self._id_updates.clear()
        self._changed.clear()
        self._moves.clear()
        self._gone.clear()
        self._buffered = 0

    # -- buffering ----------------------------------------------------------------------
    def _count(self) -> None:
        self._buffered += 1
        if self._buffered >= WRITE_BATCH:
            self.flush()

    def _update_id(self, assignments: str, item_id: int) -> None:
        self._id_updates[assignments].append(item_id)
        self._count()

    def _sort_unsorted(self, conn: Connection) -> None:
        """Insert the unsorted files, except those whose size an older item has
        (looked up for these sizes only: reading every size took 0.4 s at 1M items)."""
        if not self._unsorted:
            return
        if self._first_new_id == 1:  # the library was empty: nothing to have moved
            for found in self._unsorted:
                self._insert(found, count=False)
            self._unsorted.clear()
            return
        sizes = list({found[2] for found in self._unsorted})
        taken = sizes_taken(conn, sizes, self._first_new_id)
        for found in self._unsorted:
            if found[2] in taken:
                self._maybe_moved.append(found)
            else:
                self._insert(found, count=False)
        self._unsorted.clear()

    # -- moves ------------------------------------------------------------------------
    def _move_candidates(self, vanished: list[KnownItem]) -> dict[int, list[KnownItem]]:
        """Items a new file may be: vanished in this pass, already missing, or gone
        from a root that has not been rescanned yet."""
        by_size: dict[int, list[KnownItem]] = defaultdict(list)
        listed = {k.id for k in vanished}
        for k in vanished:
            by_size[k.size].append(k)
        if not self._maybe_moved and not self._reappeared:
            return by_size
        sizes = {found[2] for found in self._maybe_moved}
        sizes.update(found[2] for found, _known in self._reappeared)
        with self._db.read() as conn:
            for size in sizes:
                for k in known_rows(conn, "size = ?", (size,)):
                    if k.id in listed:
                        continue
                    if k.state == ItemState.MISSING or not os.path.lexists(k.path):
                        by_size[size].append(k)
        return by_size

    def _match_move(
        self, found: Found, candidates: list[KnownItem], taken: set[int]
    ) -> KnownItem | None:
        free = [k for k in candidates if k.id not in taken]
        if not free:
            return None
        print_ = _fingerprint(found[0])
        if print_ is None:
            return None
        for k in free:
            if k.fingerprint == print_:
                return k
        # Never probed (e.g. moved before the first probe finished): a rename keeps
        # size and modification time, so those two identify it.
        for k in free:
            if k.fingerprint is None and k.mtime_ns == found[3]:
                return k
        return None

    def _move(self, origin: KnownItem, found: Found) -> None:
        self._place(origin.id, found)
        self.report.moved += 1
        if origin.state == ItemState.MISSING:
            self.back_ids.append(origin.id)

    def _place(self, item_id: int, found: Found) -> None:
        """Give an item the file `found` (its path, root, modification time) and the
        state it had before it went missing."""
        path, _kind, _size, mtime_ns = found
        placed = self._placer.place(path)
        assert placed is not None
        root, name, folder = placed
        self._moves.append((item_id, root.id, path, name, folder, mtime_ns))
        self._count()

    # -- missing files back at their own path -------------------------------------------
    def _restore_reappeared(self) -> set[int]:
        """Missing items whose own content is back at their path are back (restored
        from a backup with a plain copy: new modification time, same bytes). The
        others stay in `_reappeared`. Returns the ids of those back."""
        back: set[int] = set()
        others: list[tuple[Found, KnownRow]] = []
        for found, known in self._reappeared:
            item_id, known_print = known[1], known[6]
            if known_print is not None and _fingerprint(found[0]) == known_print:
                self._place(item_id, found)
                self.report.returned += 1
                self.back_ids.append(item_id)
                back.add(item_id)
            else:
                others.append((found, known))
        self._reappeared = others
        return back

    def _sort_reappeared(self, candidates: dict[int, list[KnownItem]], taken: set[int]) -> None:
        """Other content at a missing item's path: another missing item moved here, or
        a new file if this path's item moved elsewhere, or else a changed version of
        this path's item (which keeps its captions and the user's words, and is
        probed and queued as any changed file is)."""
        for found, known in self._reappeared:
            known_path, item_id = known[0], known[1]
            origin = self._match_move(found, candidates.get(found[2], []), taken | {item_id})
            if origin is None and item_id not in taken:
                self._changed.append((item_id, found[2], found[3]))
                self._count()
                self.report.changed += 1
                self.back_ids.append(item_id)  # its suspended jobs come back
                continue
            # The path's own item lets go of it (now: not batched, so that the move
            # or insert cannot collide with it).
            with self._db.write() as conn:
                release_path(conn, item_id, known_path)
            if origin is None:
                self._insert(found)
            else:
                taken.add(origin.id)
                self._move(origin, found)
        self._reappeared.clear()

    # -- changes and inserts ----------------------------------------------------------------
    def _update_changed(self, found: Found, known: KnownRow) -> None:
        _path, item_id, size, mtime_ns, state, _last_error, _print = known
        if (size, mtime_ns) == (found[2], found[3]):
            self._update_id(f"state = {RESTORED_STATE}", item_id)
            self.report.returned += 1
            self.back_ids.append(item_id)
            return
        if state == ItemState.MISSING:
            # Sorted once everything is seen: it may be the same file, restored.
            self._reappeared.append((found, known))
            return
        self._changed.append((item_id, found[2], found[3]))
        self._count()
        self.report.changed += 1

    def _insert(self, found: Found, *, count: bool = True) -> None:
        path, kind, size, mtime_ns = found
        placed = self._placer.place(path)
        if placed is None:
            return
        root, name, folder = placed
        self._inserts.append((root.id, path, name, folder, kind, size, mtime_ns, now()))
        self.report.new += 1
        if count:
            self._count()


def _fingerprint(path: bytes) -> str | None:
    """The file's fingerprint; None if it cannot be read."""
    try:
        return fingerprint(path)
    except OSError:
        return None
