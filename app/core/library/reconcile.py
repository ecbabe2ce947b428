"""Bringing the database in line with what is on disk, in batches.

Shared by full scans and the watcher. Given files seen on disk (and files known to
be gone) it sorts them into new, changed, returned, moved and missing, and writes
each kind in bulk. A moved or renamed file keeps its item row — and so its
captions and history — when its size and head/tail fingerprint match an item that
just vanished or was already missing.

How the writes are shaped matters more than anything else here: every statement
that fires the search-index triggers makes FTS5 flush its pending data, so rows
go in as multi-row INSERTs, id-only updates as one `WHERE id IN (...)` each, and
per-row values through a staged TEMP table applied with one `UPDATE ... FROM`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, TypeVar, cast

from sqlalchemy import Connection

from app.core.library.fingerprint import fingerprint
from app.core.library.roots import Placer, RootInfo, display_text, release_path
from app.core.library.walk import PERMISSION_DENIED, Found
from app.core.storage.db import Database, now

T = TypeVar("T")
WRITE_BATCH = 1000  # files per write transaction
ROWS_PER_STATEMENT = 500  # rows (or ids) per multi-row statement
# The state of an item that is back on disk: unprobed, failed before, or fine.
RESTORED_STATE = """CASE WHEN fingerprint IS NULL THEN 'new'
    WHEN last_error IS NOT NULL THEN 'error' ELSE 'ok' END"""
# An unchanged file in one of these states needs no write at all. An item the user
# removed from the library stays removed while its file is unchanged; a changed file
# is a new version and comes back.
SETTLED_STATES = frozenset({"new", "ok", "removed"})  # the others: "error", "missing"


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
    imported: int = 0  # captions other apps wrote (XMP, IPTC, EXIF), taken in as the user's
    errors: list[ItemError] = field(default_factory=list)

    def add_error(self, path: bytes | str, reason: str) -> None:
        text = display_text(path) if isinstance(path, bytes) else path
        self.errors.append(ItemError(text, reason))


# -- what the database knows ---------------------------------------------------------
# What a scan's hot loop reads, straight from the sqlite3 cursor: building an object
# per row cost half a second per 100,000 files, and every column read costs too.
# Items in a settled state (see SETTLED_STATES) are read as (path, size, mtime_ns):
# all an unchanged file needs. The rest, and any item that turns out to need work,
# are read as KnownRow; KnownItem is made only for items that vanished.
Settled = tuple[bytes, int, int]
KnownRow = tuple[bytes, int, int, int, str, str | None]  # path, id, size, mtime, state, error
KNOWN_ROW_COLUMNS = "path, id, size, mtime_ns, state, last_error"
SETTLED_SQL = "state IN ('new', 'ok', 'removed')"
UNSETTLED_SQL = "state IN ('error', 'missing')"  # every other state


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


def _by_path(conn: Connection, sql: str, params: Sequence[object]) -> dict[bytes, Any]:
    """{first column: row} for a query, read with the raw cursor."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return {row[0]: row for row in cursor.fetchall()}
    finally:
        cursor.close()


def known_in_root(
    conn: Connection, root_id: int
) -> tuple[dict[bytes, Settled], dict[bytes, KnownRow]]:
    """The items of a root by path: the settled ones, and the others (few; read
    through the state index: "+root_id" keeps SQLite from reading the whole root)."""
    settled = _by_path(
        conn,
        f"SELECT path, size, mtime_ns FROM media_items WHERE root_id = ? AND {SETTLED_SQL}",
        (root_id,),
    )
    others = _by_path(
        conn,
        f"SELECT {KNOWN_ROW_COLUMNS} FROM media_items WHERE {UNSETTLED_SQL} AND +root_id = ?",
        (root_id,),
    )
    return settled, others


def known_at(conn: Connection, paths: Sequence[bytes]) -> dict[bytes, KnownRow]:
    """{path: KnownRow} of the items at these paths."""
    out: dict[bytes, KnownRow] = {}
    for chunk in chunks(paths):
        sql = f"SELECT {KNOWN_ROW_COLUMNS} FROM media_items WHERE path IN ({marks(chunk)})"
        out.update(_by_path(conn, sql, chunk))
    return out


def known_items_at(conn: Connection, paths: Sequence[bytes]) -> list[KnownItem]:
    """Full KnownItems (with fingerprints, for move matching) at these paths."""
    out: list[KnownItem] = []
    for chunk in chunks(paths):
        out.extend(known_rows(conn, f"path IN ({marks(chunk)})", tuple(chunk)))
    return out


# -- bulk statements -------------------------------------------------------------------
def chunks(values: Sequence[T], size: int = ROWS_PER_STATEMENT) -> Iterator[list[T]]:
    """`values` in lists of at most `size`: SQLite takes at most 32,766 parameters."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def update_ids(conn: Connection, assignments: str, ids: Sequence[int]) -> None:
    """UPDATE media_items SET `assignments` for these ids, 500 ids per statement."""
    for chunk in chunks(ids):
        conn.exec_driver_sql(
            f"UPDATE media_items SET {assignments} WHERE id IN ({marks(chunk)})", tuple(chunk)
        )


def update_from_rows(
    conn: Connection,
    columns: Sequence[str],
    rows: Sequence[tuple[object, ...]],
    assignments: str,
    where: str = "",
) -> None:
    """UPDATE media_items with different values per row in ONE statement.

    `rows` are (id, *columns); they are staged in a TEMP table (no triggers, so a
    plain executemany is cheap) and `assignments` reads them as `s.<column>`.
    `where` adds conditions on the target row (e.g. "AND media_items.state = 'new'").
    """
    if not rows:
        return
    names = ", ".join(columns)
    conn.exec_driver_sql("DROP TABLE IF EXISTS temp.staged_rows")
    conn.exec_driver_sql(f"CREATE TEMP TABLE staged_rows (id INTEGER PRIMARY KEY, {names})")
    try:
        conn.exec_driver_sql(
            f"INSERT INTO temp.staged_rows (id, {names}) VALUES (?{', ?' * len(columns)})",
            list(rows),
        )
        conn.exec_driver_sql(
            f"UPDATE media_items SET {assignments} FROM temp.staged_rows AS s "
            f"WHERE media_items.id = s.id {where}"
        )
    finally:
        conn.exec_driver_sql("DROP TABLE temp.staged_rows")


INSERT_COLUMNS = "root_id, path, name, folder, kind, size, mtime_ns, added_at"
# ON CONFLICT: a stale row at this path (say, from a removed folder) is reused.
INSERT_SQL = f"""INSERT INTO media_items ({INSERT_COLUMNS}, state) VALUES {{values}}
    ON CONFLICT(path) DO UPDATE SET root_id = excluded.root_id,
        name = excluded.name, folder = excluded.folder, kind = excluded.kind,
        size = excluded.size, mtime_ns = excluded.mtime_ns, fingerprint = NULL,
        state = 'new', last_error = NULL"""
INSERT_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, 'new')"


def insert_items(conn: Connection, rows: list[tuple[object, ...]]) -> None:
    """Insert (or reuse the rows at these paths) with multi-row statements. Sorted by
    path first: the unique path index then takes them in order."""
    rows.sort(key=lambda row: cast(bytes, row[1]))
    for chunk in chunks(rows):
        sql = INSERT_SQL.format(values=",".join([INSERT_ROW] * len(chunk)))
        conn.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))


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
        self._inserts: list[tuple[object, ...]] = []
        self._id_updates: dict[str, list[int]] = defaultdict(list)  # assignments -> ids
        self._changed: list[tuple[int, int, int]] = []  # (id, size, mtime_ns)
        self._moves: list[tuple[object, ...]] = []  # (id, root_id, path, name, folder, mtime)
        with db.read() as conn:
            # Items from this id on were added by this pass: never move candidates.
            self._first_new_id = conn.exec_driver_sql(
                "SELECT coalesce(max(id), 0) + 1 FROM media_items"
            ).scalar_one()
        # Items that were gone and are back (returned in place, or moved back in):
        # the caller re-queues the uncaptioned ones, whose jobs may have been cancelled.
        self.back_ids: list[int] = []

    def seen(self, found: Found, known: KnownRow | None) -> None:
        """A media file on disk, and what the database knew at its path."""
        if known is None:
            self._unsorted.append(found)
            self._count()
            return
        _path, item_id, size, mtime_ns, state, last_error = known
        if state == "missing" or (size, mtime_ns) != (found[2], found[3]):
            self._update_changed(found, known)
            return
        self.report.unchanged += 1
        if state == "error" and last_error == PERMISSION_DENIED:
            # chmod changes neither size nor mtime: try an unreadable file again.
            self._update_id("state = 'new', last_error = NULL", item_id)

    def finish(self, vanished: list[KnownItem]) -> None:
        """Match possible moves, insert the rest, mark what is gone as missing."""
        with self._db.read() as conn:
            self._sort_unsorted(conn)
        candidates = self._move_candidates(vanished)
        moved_ids: set[int] = set()
        for found in self._maybe_moved:
            origin = self._match_move(found, candidates.get(found[2], []), moved_ids)
            if origin is None:
                self._insert(found)
            else:
                moved_ids.add(origin.id)
                self._move(origin, found)
        self._maybe_moved.clear()
        for k in vanished:
            if k.id not in moved_ids and k.state != "missing":
                self._update_id("state = 'missing'", k.id)
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
        taken: set[int] = set()
        for chunk in chunks(sizes):
            taken.update(
                row[0]
                for row in conn.exec_driver_sql(
                    f"SELECT DISTINCT size FROM media_items WHERE size IN ({marks(chunk)}) "
                    "AND id < ?",
                    (*chunk, self._first_new_id),
                )
            )
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
        if not self._maybe_moved:
            return by_size
        with self._db.read() as conn:
            for size in {found[2] for found in self._maybe_moved}:
                for k in known_rows(conn, "size = ?", (size,)):
                    if k.id not in listed and (k.state == "missing" or not os.path.lexists(k.path)):
                        by_size[size].append(k)
        return by_size

    def _match_move(
        self, found: Found, candidates: list[KnownItem], taken: set[int]
    ) -> KnownItem | None:
        free = [k for k in candidates if k.id not in taken]
        if not free:
            return None
        try:
            print_ = fingerprint(found[0])
        except OSError:
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
        path, _kind, _size, mtime_ns = found
        placed = self._placer.place(path)
        assert placed is not None
        root, name, folder = placed
        self._moves.append((origin.id, root.id, path, name, folder, mtime_ns))
        self._count()
        self.report.moved += 1
        if origin.state == "missing":
            self.back_ids.append(origin.id)

    # -- changes and inserts ----------------------------------------------------------------
    def _update_changed(self, found: Found, known: KnownRow) -> None:
        known_path, item_id, size, mtime_ns, state, _last_error = known
        if (size, mtime_ns) == (found[2], found[3]):
            self._update_id(f"state = {RESTORED_STATE}", item_id)
            self.report.returned += 1
            self.back_ids.append(item_id)
            return
        if state == "missing":
            # Deleted, then a different file appeared at the same path: a new item.
            # The old one keeps its captions as history; it gives up the path now
            # (not batched) so that the insert cannot take over its row.
            with self._db.write() as conn:
                release_path(conn, item_id, known_path)
            self._insert(found)
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
