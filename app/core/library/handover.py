"""Files and folders handed to Captionist from outside (a file manager's "Caption this",
the `caption` and `caption-this` commands): index them, adding their folder to the library
when no library folder holds them yet, and say for each path what became of it.

A file outside every library folder brings its folder in as a new library folder (the
file cannot be an item of the library otherwise); a folder is added as it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.core.jobs import PRIORITY_USER
from app.core.library.filetypes import media_kind
from app.core.library.library import Library, LibraryError
from app.core.library.roots import subtree_bounds
from app.core.library.scanner import FsChanges
from app.core.storage.item_rows import item_at, usable_ids_between
from app.core.text import counted

NOT_MEDIA = "not a photo or video Captionist knows (by its extension)"


@dataclass
class IndexedPaths:
    """What the given paths became: item ids per path (one for a file, those inside for a
    folder) and, for the paths that could not be used, why."""

    items: dict[str, list[int]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def item_ids(self) -> list[int]:
        """Every item once, in the order the paths were given."""
        return list(dict.fromkeys(i for ids in self.items.values() for i in ids))

    def summary(self) -> str:
        """One line for a status bar or a terminal."""
        count = len(self.item_ids())
        text = f"Queued {counted(count, 'item')} at the front of the line"
        if self.errors:
            text += f"; {len(self.errors)} could not be used"
        return text


def index_paths(library: Library, paths: Iterable[str], *, folders: bool = True) -> IndexedPaths:
    """Index the given files (and with `folders`, the photos and videos inside folders)."""
    result = IndexedPaths()
    for given in paths:
        raw = os.path.realpath(os.fsencode(given))
        try:
            if os.path.isdir(raw):
                if not folders:
                    raise LibraryError("a folder: give the photos or videos in it")
                ids = _index_folder(library, raw)
            else:
                ids = [_index_file(library, raw)]
        except (LibraryError, OSError) as exc:
            result.errors[given] = str(exc)
        else:
            result.items[given] = ids
    return result


def queue_paths(library: Library, paths: Iterable[str]) -> IndexedPaths:
    """ "Caption this" from outside: index the paths and queue what they hold at the
    front of the line (user captions are never replaced by the model's)."""
    result = index_paths(library, paths)
    ids = result.item_ids()
    if ids:
        library.jobs.enqueue(ids, priority=PRIORITY_USER)
    return result


def _index_file(library: Library, raw: bytes) -> int:
    if not os.path.isfile(raw):
        raise LibraryError("no such file")
    if media_kind(raw) is None:
        raise LibraryError(NOT_MEDIA)
    library.add_root(os.path.dirname(raw))
    report = library.indexer.index_changes(FsChanges(touched={raw}))
    with library.db.read() as conn:
        row = item_at(conn, raw)
    if row is None or row[1] == "error":
        reason = row[2] if row else next((e.reason for e in report.errors), "not indexed")
        raise LibraryError(reason or "could not be read")
    return int(row[0])


def _index_folder(library: Library, raw: bytes) -> list[int]:
    library.add_root(raw)
    report = library.indexer.index_changes(FsChanges(touched={raw}))
    low, high = subtree_bounds(raw)
    with library.db.read() as conn:
        ids = usable_ids_between(conn, low, high)
    if not ids:
        reason = report.errors[0].reason if report.errors else "no photos or videos in it"
        raise LibraryError(reason)
    return ids
