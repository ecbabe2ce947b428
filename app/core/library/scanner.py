"""Indexing: full scans of a root, change batches from the watcher, and probing.

Indexing runs in two phases. Discovery (walk + stat + bulk insert) makes files
appear in the library at close to the speed of a bare directory walk. Probing then
reads each new or changed file's header (dimensions, date taken, duration, head/tail
fingerprint) on a small thread pool, turns bad files into per-item errors, and
queues caption jobs for the good ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain

from app.core import jobs
from app.core.library.filetypes import media_kind
from app.core.library.reconcile import Reconciler, ScanReport
from app.core.library.roots import (
    Placer,
    RootInfo,
    is_within,
    load_roots,
    release_path,
    root_for,
    subtree_bounds,
)
from app.core.library.walk import (
    Found,
    WalkError,
    links_into,
    never_stop,
    walk_folders,
    walk_media,
)
from app.core.media.probe import ProbeResult, probe
from app.core.metadata.import_captions import read_for_import, store_imported
from app.core.metadata.xmp import CaptionMetadata
from app.core.settings import Settings
from app.core.storage.bulk import chunks, update_from_rows
from app.core.storage.caption_rows import without_user_caption
from app.core.storage.db import Database, now
from app.core.storage.item_rows import (
    items_at,
    paths_at_or_between,
    uncaptioned_ok,
    unprobed_in_roots,
)
from app.core.storage.job_rows import resume_jobs, suspend_jobs
from app.core.storage.known_items import (
    KnownItem,
    KnownRow,
    Settled,
    known_at,
    known_in_root,
    known_items_at,
    known_rows,
)
from app.core.storage.root_rows import set_last_scan
from app.core.storage.states import ItemState

PROBE_BATCH = 256
PROGRESS_EVERY = 1000  # files; the files seen so far are stored when progress is reported
Progress = Callable[[str, int], None]  # (phase, count so far)


def no_progress(_phase: str, _count: int) -> None:
    pass


@dataclass
class FsChanges:
    """What the watcher saw, coalesced: paths touched, removed, and moves (src, dst)."""

    touched: set[bytes] = field(default_factory=set)
    removed: set[bytes] = field(default_factory=set)
    moved: list[tuple[bytes, bytes]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.touched or self.removed or self.moved)


class Indexer:
    def __init__(self, db: Database, settings: Settings, *, probe_workers: int = 2) -> None:
        self._db = db
        self._settings = settings
        self._probe_workers = probe_workers

    # -- full scans ---------------------------------------------------------------
    def scan_root(
        self,
        root_id: int,
        *,
        should_stop: Callable[[], bool] = never_stop,
        progress: Progress = no_progress,
    ) -> ScanReport:
        report = ScanReport()
        with self._db.read() as conn:
            roots = load_roots(conn)
            settled, others = known_in_root(conn, root_id)
        root = next((r for r in roots if r.id == root_id), None)
        if root is None:
            raise ValueError(f"no enabled library folder with id {root_id}")
        reconciler = Reconciler(self._db, roots, report)
        unreadable: list[bytes] = []

        def on_error(error: WalkError) -> None:
            report.add_error(error.path, error.reason)
            unreadable.append(error.path)

        skip_hidden = self._settings.read().skip_hidden
        folders = walk_folders(
            root.path,
            on_error,
            skip_hidden=skip_hidden,
            should_stop=should_stop,
            library=[r.path for r in roots],
        )
        # Takes the paths seen out of `settled` and `others`: what is left has vanished.
        self._discover(folders, settled, others, reconciler, progress)
        if should_stop():
            reconciler.flush()
            return report
        # A folder we could not read (or an unmounted drive) is not proof that its
        # files are gone: only what a readable folder no longer lists is missing.
        vanished_paths = [
            path
            for path in chain(settled, others)
            if not any(is_within(path, bad) for bad in unreadable)
        ]
        with self._db.read() as conn:
            vanished = known_items_at(conn, vanished_paths)
        reconciler.finish(vanished)
        self._requeue_returned(reconciler.back_ids)
        self.probe_pending([root_id], report, should_stop=should_stop, progress=progress)
        with self._db.write() as conn:
            set_last_scan(conn, root_id, now())
        return report

    def _discover(
        self,
        folders: Iterable[list[Found]],
        settled: dict[bytes, Settled],
        others: dict[bytes, KnownRow],
        reconciler: Reconciler,
        progress: Progress,
    ) -> None:
        """The hot loop of a scan: compare every file with what the database knows.

        An unchanged file costs a dict pop and two comparisons; everything else
        goes to the reconciler (a changed file once its full row is read, in batches).
        Progress is reported every PROGRESS_EVERY files or more (at the end of a
        folder), once the files seen so far are stored.
        """
        take_settled, take_other = settled.pop, others.pop
        unchanged = count = 0
        next_progress = PROGRESS_EVERY
        changed: list[Found] = []
        for files in folders:
            for found in files:
                known = take_settled(found[0], None)
                if known is None:
                    reconciler.seen(found, take_other(found[0], None))
                elif known[1] == found[2] and known[2] == found[3]:
                    unchanged += 1
                else:
                    changed.append(found)
            count += len(files)
            if count >= next_progress:
                self._seen_changed(changed, reconciler)
                reconciler.flush()
                progress("discovering", count)
                next_progress = count + PROGRESS_EVERY
        self._seen_changed(changed, reconciler)
        reconciler.report.unchanged += unchanged

    def _seen_changed(self, changed: list[Found], reconciler: Reconciler) -> None:
        """Hand changed files to the reconciler with their full rows."""
        if not changed:
            return
        with self._db.read() as conn:
            known = known_at(conn, [found[0] for found in changed])
        for found in changed:
            reconciler.seen(found, known.get(found[0]))
        changed.clear()

    # -- watcher batches ----------------------------------------------------------
    def index_changes(
        self, changes: FsChanges, *, should_stop: Callable[[], bool] = never_stop
    ) -> ScanReport:
        """Apply one coalesced batch of filesystem events."""
        report = ScanReport()
        with self._db.read() as conn:
            roots = load_roots(conn)
        touched = set(changes.touched)
        removed = set(changes.removed)
        for src, dst in changes.moved:
            missing_moved = self._move_known(src, dst, roots, report)
            if missing_moved is None:
                touched.add(dst)
                removed.add(src)
            else:
                # A batch that raced the rename may have marked a file missing at its
                # old path: where it is found at the new one, it has come back.
                touched.update(path for path in missing_moved if os.path.lexists(path))
        found: dict[bytes, Found] = {}  # by path: a folder and files in it may overlap
        library = [r.path for r in roots]
        for path in touched:
            if links_into(path, library):
                continue  # a link to files the library has at their real paths
            if os.path.isdir(path):
                skip_hidden = self._settings.read().skip_hidden
                for entry in walk_media(path, skip_hidden=skip_hidden, library=library):
                    if isinstance(entry, WalkError):
                        report.add_error(entry.path, entry.reason)
                    else:
                        found[entry[0]] = entry
            elif (item := _stat_media(path)) is not None:
                found[item[0]] = item
            elif not os.path.lexists(path):
                removed.add(path)
        vanished = self._known_under(removed - found.keys())
        reconciler = Reconciler(self._db, roots, report)
        with self._db.read() as conn:
            known = known_at(conn, list(found))
        for item in found.values():
            reconciler.seen(item, known.get(item[0]))
        reconciler.finish(vanished)
        self._requeue_returned(reconciler.back_ids)
        root_ids = {r.id for r in roots}
        self.probe_pending(sorted(root_ids), report, should_stop=should_stop)
        return report

    def _move_known(
        self, src: bytes, dst: bytes, roots: list[RootInfo], report: ScanReport
    ) -> list[bytes] | None:
        """Follow a file or folder rename inside the library: the new paths of the
        missing items that moved, or None if the rename is not one to follow."""
        dst_root = root_for(dst, roots)
        if dst_root is None or root_for(src, roots) is None:
            return None
        low, high = subtree_bounds(src)
        with self._db.write() as conn:
            rows = paths_at_or_between(conn, src, low, high)
            if not rows:
                return None  # nothing known there: a change plus a removal
            moving = {item_id for item_id, _, _ in rows}
            plan = [(item_id, dst + old[len(src) :]) for item_id, old, _ in rows]
            occupants = [
                occupant
                for _, new in plan
                for occupant in items_at(conn, new)
                if occupant[0] not in moving
            ]
            if any(state != ItemState.MISSING for _, state, _ in occupants):
                return None  # renamed over present library files: a change plus a removal
            for occupant_id, _, occupant_path in occupants:
                release_path(conn, occupant_id, occupant_path)
            placer = Placer([dst_root])
            update_from_rows(
                conn,
                ("path", "root_id", "name", "folder"),
                [(item_id, new, *_placed(placer, new)) for item_id, new in plan],
                "path = s.path, root_id = s.root_id, name = s.name, folder = s.folder",
            )
        report.moved += len(rows)
        return [
            new
            for (_, new), (_, _, state) in zip(plan, rows, strict=True)
            if state == ItemState.MISSING
        ]

    def _known_under(self, paths: Iterable[bytes]) -> list[KnownItem]:
        items: dict[int, KnownItem] = {}
        with self._db.read() as conn:
            for path in paths:
                if os.path.lexists(path):
                    continue  # recreated since the event: the touched pass handles it
                low, high = subtree_bounds(path)
                for k in known_rows(conn, "path = ? OR (path > ? AND path < ?)", (path, low, high)):
                    items[k.id] = k
        return list(items.values())

    def _requeue_returned(self, item_ids: list[int]) -> None:
        """Items that came back get back the jobs their going missing suspended (see
        `mark_missing`), and, when captioning is automatic, those that read fine and
        have no caption are queued, as new files are (a job cancelled before this
        release did not carry the mark)."""
        if not item_ids:
            return
        auto_caption = self._settings.read().auto_caption
        with self._db.write() as conn:
            resume_jobs(conn, item_ids, now())
            if auto_caption:
                for chunk in chunks(item_ids):
                    jobs.enqueue(conn, uncaptioned_ok(conn, chunk))

    # -- probing ------------------------------------------------------------------
    def probe_pending(
        self,
        root_ids: Sequence[int],
        report: ScanReport,
        *,
        should_stop: Callable[[], bool] = never_stop,
        progress: Progress = no_progress,
    ) -> None:
        """Probe every item in state "new" under these roots; queue caption jobs."""
        with self._db.read() as conn:
            pending = unprobed_in_roots(conn, root_ids)
        settings = self._settings.read()
        auto_caption, read_metadata = settings.auto_caption, settings.metadata_import

        def examine(row: tuple[int, bytes, str, int]) -> tuple[ProbeResult, CaptionMetadata | None]:
            result = probe(row[1], row[2], row[3])
            found = read_for_import(row[1]) if read_metadata and not result.error else None
            return result, found

        pool = ThreadPoolExecutor(self._probe_workers, thread_name_prefix="probe")
        try:
            for start in range(0, len(pending), PROBE_BATCH):
                if should_stop():
                    return
                batch = pending[start : start + PROBE_BATCH]
                examined = list(pool.map(examine, batch))
                self._store_probes(batch, examined, report, auto_caption)
                progress("probing", start + len(batch))
        finally:
            # On Ctrl+C (KeyboardInterrupt) or an error: drop the batch's probes not yet
            # started, so only those under way (each bounded: regular files only, never
            # a blocking open) are waited for, not the rest of the batch.
            pool.shutdown(wait=True, cancel_futures=True)

    def _store_probes(
        self,
        batch: Sequence[tuple[int, bytes, str, int]],
        examined: list[tuple[ProbeResult, CaptionMetadata | None]],
        report: ScanReport,
        auto_caption: bool,
    ) -> None:
        """Store a batch of probe results with one UPDATE (staged rows), take in the
        captions other apps wrote, queue jobs for the rest."""
        good: list[int] = []
        gone: list[int] = []
        rows: list[tuple[object, ...]] = []
        found = {row[0]: meta for row, (_r, meta) in zip(batch, examined, strict=True) if meta}
        results = [result for result, _meta in examined]
        for (item_id, path, _kind, _mtime), result in zip(batch, results, strict=True):
            if result.error and not os.path.lexists(path):
                state, error = ItemState.MISSING, None  # vanished mid-scan
                report.missing += 1
                gone.append(item_id)
            elif result.error:
                state, error = ItemState.ERROR, result.error
                report.add_error(path, result.error)
            else:
                state, error = ItemState.OK, None
                good.append(item_id)
            rows.append((
                item_id, result.fingerprint, result.width, result.height, result.duration,
                result.taken_at, state, error,
            ))  # fmt: skip
        with self._db.write() as conn:
            update_from_rows(
                conn,
                PROBE_COLUMNS,
                rows,
                ", ".join(f"{column} = s.{column}" for column in PROBE_COLUMNS),
                # Only if nothing changed it since it was read (e.g. the file changed again).
                "AND media_items.state = 'new'",
            )
            # A changed file's job, say: it would only fail now. Back with the file.
            suspend_jobs(conn, gone, now())
            report.probed += len(batch)
            report.imported += len(store_imported(conn, found, now()))
            if auto_caption and good:
                jobs.enqueue(conn, without_user_caption(conn, good))


PROBE_COLUMNS = (
    "fingerprint", "width", "height", "duration", "taken_at", "state", "last_error"
)  # fmt: skip


def _placed(placer: Placer, path: bytes) -> tuple[int, str, str]:
    """(root id, name text, folder text) of a path inside the placer's roots."""
    placed = placer.place(path)
    assert placed is not None
    root, name, folder = placed
    return root.id, name, folder


def _stat_media(path: bytes) -> Found | None:
    kind = media_kind(path)
    if kind is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return path, kind, st.st_size, st.st_mtime_ns
