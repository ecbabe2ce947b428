"""Walking a library folder: fast, in bytes, and robust against odd trees.

Works on bytes paths so names that are not valid UTF-8 round-trip exactly.
Symlinked folders are followed once (loops are cut by device/inode), a folder that
cannot be read becomes an error entry instead of stopping the walk.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from app.core.library.filetypes import is_hidden_or_system, media_kind

# Not a problem with the file itself: a rescan tries such files again.
PERMISSION_DENIED = "permission denied"


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: bytes
    kind: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class WalkError:
    path: bytes
    reason: str


def describe_os_error(exc: OSError) -> str:
    """A short, user-facing reason for an OS error."""
    if isinstance(exc, PermissionError):
        return PERMISSION_DENIED
    if isinstance(exc, FileNotFoundError):
        return "file vanished while being read"
    return exc.strerror or exc.__class__.__name__


def walk_media(
    root: bytes,
    *,
    skip_hidden: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[FoundFile | WalkError]:
    """Yield every media file below `root` (and errors for what could not be read)."""
    seen_dirs: set[tuple[int, int]] = set()
    try:
        st = os.stat(root)
    except OSError as exc:
        yield WalkError(root, describe_os_error(exc))
        return
    seen_dirs.add((st.st_dev, st.st_ino))
    stack = [root]
    while stack:
        if should_stop():
            return
        folder = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError as exc:
            yield WalkError(folder, describe_os_error(exc))
            continue
        with entries:
            for entry in entries:
                yield from _visit(entry, stack, seen_dirs, skip_hidden)


def _visit(
    entry: os.DirEntry[bytes],
    stack: list[bytes],
    seen_dirs: set[tuple[int, int]],
    skip_hidden: bool,
) -> Iterator[FoundFile | WalkError]:
    if skip_hidden and is_hidden_or_system(entry.name):
        return
    try:
        is_dir = entry.is_dir()  # follows symlinks
    except OSError as exc:
        yield WalkError(entry.path, describe_os_error(exc))
        return
    if is_dir:
        try:
            st = entry.stat()
        except OSError as exc:
            yield WalkError(entry.path, describe_os_error(exc))
            return
        key = (st.st_dev, st.st_ino)
        if key not in seen_dirs:  # a symlink loop or a second link to the same folder
            seen_dirs.add(key)
            stack.append(entry.path)
        return
    kind = media_kind(entry.name)
    if kind is None:
        return
    try:
        st = entry.stat()
    except FileNotFoundError:
        if entry.is_symlink():
            yield WalkError(entry.path, "broken link: the file it points to does not exist")
        # else: deleted since the folder was listed; it is simply not there (missing).
        return
    except OSError as exc:
        yield WalkError(entry.path, describe_os_error(exc))
        return
    if not stat.S_ISREG(st.st_mode):
        return
    yield FoundFile(entry.path, kind, st.st_size, st.st_mtime_ns)
