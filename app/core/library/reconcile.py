"""Bringing the database in line with what is on disk, in batches.

Shared by full scans and the watcher. Given files seen on disk (and files known to
be gone) it sorts them into new, changed, returned, moved and missing, and writes
each kind in bulk. A moved or renamed file keeps its item row — and so its
captions and history — when its size and head/tail fingerprint match an item that
just vanished or was already missing.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection

from app.core.library.fingerprint import fingerprint
from app.core.library.roots import (
    RootInfo,
    display_text,
    folder_text,
    name_text,
    release_path,
    root_for,
)
from app.core.library.walk import PERMISSION_DENIED, FoundFile
from app.core.storage.db import Database, now

INSERT_BATCH = 1000
# The state of an item that is back on disk: unprobed, failed before, or fine.
RESTORED_STATE = """CASE WHEN fingerprint IS NULL THEN 'new'
    WHEN last_error IS NOT NULL THEN 'error' ELSE 'ok' END"""


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
    returned: int = 0  # reappeared where it was, unchanged
    unchanged: int = 0
    probed: int = 0
    errors: list[ItemError] = field(default_factory=list)

    def add_error(self, path: bytes | str, reason: str) -> None:
        text = display_text(path) if isinstance(path, bytes) else path
        self.errors.append(ItemError(text, reason))


@dataclass(frozen=True, slots=True)
class KnownItem:
    id: int
    path: bytes
    size: int
    mtime_ns: int
    state: str
    fingerprint: str | None
    last_error: str | None


KNOWN_COLUMNS = "id, path, size, mtime_ns, state, fingerprint, last_error"


def known_rows(conn: Connection, where: str, params: tuple[object, ...]) -> list[KnownItem]:
    sql = f"SELECT {KNOWN_COLUMNS} FROM media_items WHERE {where}"
    return [KnownItem(*row) for row in conn.exec_driver_sql(sql, params)]


class Reconciler:
    """One pass of reconciliation. Feed it with `seen`, then call `finish`.

    Writes are buffered and committed every `INSERT_BATCH` statements, each batch in
    its own short transaction, so a long scan never keeps the caption worker or the
    GUI from writing, and items appear in the library while the scan goes on.
    """

    def __init__(self, db: Database, roots: list[RootInfo], report: ScanReport) -> None:
        self._db = db
        self._roots = roots
        self.report = report
        self._writes: dict[str, list[tuple[object, ...]]] = defaultdict(list)
        self._buffered = 0
        # New files whose size matches a known item: they could be that item moved
        # (from this root, or from another one not rescanned yet), which is only known
        # once the pass has seen everything.
        self._maybe_moved: list[FoundFile] = []
        with db.read() as conn:
            self._known_sizes = {
                row[0] for row in conn.exec_driver_sql("SELECT DISTINCT size FROM media_items")
            }
        # Items that were gone and are back (returned in place, or moved back in):
        # the caller re-queues the uncaptioned ones, whose jobs may have been cancelled.
        self.back_ids: list[int] = []

    def seen(self, found: FoundFile, known: KnownItem | None) -> None:
        if known is None:
            if found.size in self._known_sizes:
                self._maybe_moved.append(found)
            else:
                self._insert(found)
        elif known.state == "missing" or (known.size, known.mtime_ns) != (
            found.size,
            found.mtime_ns,
        ):
            self._update_changed(found, known)
        else:
            self.report.unchanged += 1
            if known.state == "error" and known.last_error == PERMISSION_DENIED:
                # chmod changes neither size nor mtime: try an unreadable file again.
                self._write(
                    "UPDATE media_items SET state = 'new', last_error = NULL WHERE id = ?",
                    (known.id,),
                )

    def finish(self, vanished: list[KnownItem]) -> None:
        """Match possible moves, insert the rest, mark what is gone as missing."""
        candidates = self._move_candidates(vanished)
        moved_ids: set[int] = set()
        for found in self._maybe_moved:
            origin = self._match_move(found, candidates.get(found.size, []), moved_ids)
            if origin is None:
                self._insert(found)
            else:
                moved_ids.add(origin.id)
                self._move(origin, found)
        for k in vanished:
            if k.id not in moved_ids and k.state != "missing":
                self._write("UPDATE media_items SET state = 'missing' WHERE id = ?", (k.id,))
                self.report.missing += 1
        self.flush()

    def flush(self) -> None:
        if not self._buffered:
            return
        with self._db.write() as conn:
            for sql, rows in self._writes.items():
                conn.exec_driver_sql(sql, rows)
        self._writes.clear()
        self._buffered = 0

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        self._writes[sql].append(params)
        self._buffered += 1
        if self._buffered >= INSERT_BATCH:
            self.flush()

    def _move_candidates(self, vanished: list[KnownItem]) -> dict[int, list[KnownItem]]:
        """Items a new file may be: vanished in this pass, already missing, or gone
        from a root that has not been rescanned yet."""
        by_size: dict[int, list[KnownItem]] = defaultdict(list)
        listed = {k.id for k in vanished}
        for k in vanished:
            by_size[k.size].append(k)
        with self._db.read() as conn:
            for size in {f.size for f in self._maybe_moved}:
                for k in known_rows(conn, "size = ?", (size,)):
                    if k.id not in listed and (k.state == "missing" or not os.path.lexists(k.path)):
                        by_size[size].append(k)
        return by_size

    def _match_move(
        self, found: FoundFile, candidates: list[KnownItem], taken: set[int]
    ) -> KnownItem | None:
        free = [k for k in candidates if k.id not in taken]
        if not free:
            return None
        try:
            print_ = fingerprint(found.path)
        except OSError:
            return None
        for k in free:
            if k.fingerprint == print_:
                return k
        # Never probed (e.g. moved before the first probe finished): a rename keeps
        # size and modification time, so those two identify it.
        for k in free:
            if k.fingerprint is None and k.mtime_ns == found.mtime_ns:
                return k
        return None

    def _move(self, origin: KnownItem, found: FoundFile) -> None:
        root = root_for(found.path, self._roots)
        assert root is not None
        self._write(
            f"""UPDATE media_items SET root_id = ?, path = ?, name = ?, folder = ?,
                   mtime_ns = ?, state = {RESTORED_STATE} WHERE id = ?""",
            (
                root.id,
                found.path,
                name_text(found.path),
                folder_text(found.path, root),
                found.mtime_ns,
                origin.id,
            ),
        )
        self.report.moved += 1
        if origin.state == "missing":
            self.back_ids.append(origin.id)

    def _update_changed(self, found: FoundFile, known: KnownItem) -> None:
        if (known.size, known.mtime_ns) == (found.size, found.mtime_ns):
            self._write(
                f"UPDATE media_items SET state = {RESTORED_STATE} WHERE id = ?", (known.id,)
            )
            self.report.returned += 1
            self.back_ids.append(known.id)
            return
        if known.state == "missing":
            # Deleted, then a different file appeared at the same path: a new item.
            # The old one keeps its captions as history; it gives up the path now
            # (not batched) so that the insert cannot take over its row.
            with self._db.write() as conn:
                release_path(conn, known.id, known.path)
            self._insert(found)
            return
        self._write(
            """UPDATE media_items SET size = ?, mtime_ns = ?, fingerprint = NULL,
                   width = NULL, height = NULL, duration = NULL, state = 'new',
                   last_error = NULL WHERE id = ?""",
            (found.size, found.mtime_ns, known.id),
        )
        self.report.changed += 1

    def _insert(self, found: FoundFile) -> None:
        root = root_for(found.path, self._roots)
        if root is None:
            return
        # ON CONFLICT: a stale row at this path (say, from a removed folder) is reused.
        self._write(
            """INSERT INTO media_items
                   (root_id, path, name, folder, kind, size, mtime_ns, added_at, state)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'new')
               ON CONFLICT(path) DO UPDATE SET root_id = excluded.root_id,
                   name = excluded.name, folder = excluded.folder, kind = excluded.kind,
                   size = excluded.size, mtime_ns = excluded.mtime_ns, fingerprint = NULL,
                   state = 'new', last_error = NULL""",
            (
                root.id,
                found.path,
                name_text(found.path),
                folder_text(found.path, root),
                found.kind,
                found.size,
                found.mtime_ns,
                now(),
            ),
        )
        self.report.new += 1
