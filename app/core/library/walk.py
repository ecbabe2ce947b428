"""Walking a library folder: fast, in bytes, and robust against odd trees.

Works on bytes paths so names that are not valid UTF-8 round-trip exactly.
Symlinked folders are followed once (loops are cut by device/inode), a folder that
cannot be read becomes an error instead of stopping the walk.

One item per real file: a symlink (to a folder or a file) whose target lies inside a
library folder — the one being walked or another — is not followed, because the
walk of that folder finds the file at its real path, and that is the path its item
has. A link out of the library (another disk, say) is followed, and its files are
indexed under the link's path. A library folder that is itself a symlink is walked
as usual: only links met inside the walk are judged.

The walk is the hot loop of every scan (a rescan of 100,000 unchanged files is
little more than this walk), so the per-entry work is done inline and files come
as plain tuples, a folder's worth at a time: a generator per entry or a dataclass
per file doubled the cost of the walk itself.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from app.core.library.filetypes import PHOTO_EXTENSIONS, SYSTEM_FOLDERS, VIDEO_EXTENSIONS
from app.core.os_errors import describe_os_error

BROKEN_LINK = "broken link: the file it points to does not exist"

# Extension (lowercase bytes, with the dot) -> kind; the walk looks it up inline.
KIND_BY_EXTENSION = {os.fsencode(e): "photo" for e in PHOTO_EXTENSIONS} | {
    os.fsencode(e): "video" for e in VIDEO_EXTENSIONS
}

# A media file found on disk: (path, kind, size, mtime_ns).
Found = tuple[bytes, str, int, int]


@dataclass(frozen=True, slots=True)
class WalkError:
    path: bytes
    reason: str


def never_stop() -> bool:
    return False


def links_into(path: bytes, library: Sequence[bytes]) -> bool:
    """Whether `path` is a symlink whose target lies in one of the library folders
    (their paths as stored: `Library.add_root` resolves them): its files are indexed
    at their real paths."""
    if not library or not os.path.islink(path):
        return False
    return _inside(os.path.realpath(path), library)


def _inside(real: bytes, library: Sequence[bytes]) -> bool:
    sep = os.sep.encode()
    return any(real == top or real.startswith(top.rstrip(sep) + sep) for top in library)


def walk_folders(
    root: bytes,
    on_error: Callable[[WalkError], object],
    *,
    skip_hidden: bool = True,
    should_stop: Callable[[], bool] = never_stop,
    library: Sequence[bytes] = (),
) -> Iterator[list[Found]]:
    """Yield the media files below `root` a folder at a time, as lists of
    (path, kind, size, mtime_ns); report what could not be read to `on_error`
    (a folder, a file, a broken link). A list per folder rather than a generator
    step per file: on a rescan the steps cost more than comparing the files.
    `library`: the library folders (real paths, as `Library.add_root` stores them);
    links into them are skipped (see the module's docstring)."""
    try:
        st = os.stat(root)
    except OSError as exc:
        on_error(WalkError(root, describe_os_error(exc)))
        return
    seen_dirs = {(st.st_dev, st.st_ino)}
    stack = [root]
    while stack:
        if should_stop():
            return
        folder = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError as exc:
            on_error(WalkError(folder, describe_os_error(exc)))
            continue
        with entries:
            files = _list_folder(entries, stack, seen_dirs, on_error, skip_hidden, library)
        if files:
            yield files


def _list_folder(
    entries: Iterator[os.DirEntry[bytes]],
    stack: list[bytes],
    seen_dirs: set[tuple[int, int]],
    on_error: Callable[[WalkError], object],
    skip_hidden: bool,
    library: Sequence[bytes],
) -> list[Found]:
    """The media files among one folder's entries; its subfolders go on `stack`."""
    files: list[Found] = []
    is_regular = stat.S_ISREG
    kind_of = KIND_BY_EXTENSION.get
    for entry in entries:
        name = entry.name
        if skip_hidden and (name[:1] == b"." or name in SYSTEM_FOLDERS):
            continue
        try:
            is_dir = entry.is_dir()  # follows symlinks
        except OSError as exc:
            on_error(WalkError(entry.path, describe_os_error(exc)))
            continue
        if is_dir:
            if not (library and entry.is_symlink() and _links_inside(entry, library)):
                _enter(entry, stack, seen_dirs, on_error)
            continue
        dot = name.rfind(b".")
        kind = kind_of(name[dot:].lower()) if dot >= 0 else None
        if kind is None:
            continue
        try:
            st = entry.stat()
        except FileNotFoundError:
            # Deleted since the folder was listed: it is simply not there
            # (missing), unless it is a link to nothing.
            if entry.is_symlink():
                on_error(WalkError(entry.path, BROKEN_LINK))
            continue
        except OSError as exc:
            on_error(WalkError(entry.path, describe_os_error(exc)))
            continue
        if is_regular(st.st_mode) and not (
            library and entry.is_symlink() and _links_inside(entry, library)
        ):
            files.append((entry.path, kind, st.st_size, st.st_mtime_ns))
    return files


def _links_inside(entry: os.DirEntry[bytes], library: Sequence[bytes]) -> bool:
    """Whether a symlink's target lies in the library (see the module's docstring)."""
    return _inside(os.path.realpath(entry.path), library)


def walk_files(
    root: bytes,
    on_error: Callable[[WalkError], object],
    *,
    skip_hidden: bool = True,
    should_stop: Callable[[], bool] = never_stop,
    library: Sequence[bytes] = (),
) -> Iterator[Found]:
    """Every media file below `root`, one at a time (see `walk_folders`)."""
    for files in walk_folders(
        root, on_error, skip_hidden=skip_hidden, should_stop=should_stop, library=library
    ):
        yield from files


def _enter(
    entry: os.DirEntry[bytes],
    stack: list[bytes],
    seen_dirs: set[tuple[int, int]],
    on_error: Callable[[WalkError], object],
) -> None:
    """Queue a folder for the walk unless it was seen already: a symlink loop or a
    second link to the same folder."""
    try:
        st = entry.stat()
    except OSError as exc:
        on_error(WalkError(entry.path, describe_os_error(exc)))
        return
    key = (st.st_dev, st.st_ino)
    if key not in seen_dirs:
        seen_dirs.add(key)
        stack.append(entry.path)


def walk_media(
    root: bytes,
    *,
    skip_hidden: bool = True,
    should_stop: Callable[[], bool] = never_stop,
    library: Sequence[bytes] = (),
) -> Iterator[Found | WalkError]:
    """Every media file below `root` and every error, in the order they are met:
    for callers that are not on a hot path and prefer one stream."""
    errors: list[WalkError] = []
    for found in walk_files(
        root, errors.append, skip_hidden=skip_hidden, should_stop=should_stop, library=library
    ):
        yield from errors
        errors.clear()
        yield found
    yield from errors
