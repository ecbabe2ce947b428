"""Opening the user's files for reading, never blocking on one that is not a file.

A library folder can hold anything by the time a file is read: a photo replaced by a
FIFO between discovery and probing makes a plain open() wait for a writer forever
(and Ctrl+C with it), a device file can block or never end. So every read of a user's
file goes through here: the open never blocks (O_NONBLOCK), the *opened descriptor*
is checked to be a regular file (fstat, so nothing can be swapped in between the
check and the read), and only then is blocking mode restored for ordinary reads.

Libraries that insist on opening a path themselves (OpenCV, Exiv2) get
`regular_path`: on Linux the verified descriptor's /proc/self/fd/N, which reopens the
very file that was checked, whatever the name points at by then.

This is the bottom layer (models never imports app), so app.core and models share it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

PathArg = bytes | str | os.PathLike[str] | os.PathLike[bytes]

_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO opens at once instead of waiting for a writer
    | getattr(os, "O_NOCTTY", 0)  # a terminal device never becomes our controlling tty
    | getattr(os, "O_BINARY", 0)
)
_PROC_FD = "/proc/self/fd"
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class NotRegularFile(OSError):
    """The path names a FIFO, directory, device or socket: refused before any read.

    An OSError, so every caller that already turns OS errors into a per-item reason
    shows it: its strerror is that reason, "not a regular file (a FIFO)"."""

    def __init__(self, mode: int, path: PathArg | None = None) -> None:
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        super().__init__(errno.EINVAL, f"not a regular file ({kind})", path)


def open_regular(path: PathArg) -> int:
    """A blocking, read-only descriptor of the regular file at `path` (symlinks
    followed). Raises NotRegularFile for anything else, OSError as os.open does."""
    fd = os.open(path, _FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(mode, path)
        if _FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)  # regular files ignore it, but be plain about it
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def regular_file(path: PathArg) -> Iterator[BinaryIO]:
    """The regular file at `path` opened for reading in binary (for Pillow & co.)."""
    with open(open_regular(path), "rb", closefd=True) as stream:
        yield stream


@contextlib.contextmanager
def regular_path(path: PathArg) -> Iterator[str]:
    """A str path naming the checked regular file, for libraries that open by name.

    On Linux the descriptor's /proc/self/fd path (also right for names that are not
    valid UTF-8, which OpenCV and Exiv2 cannot take); elsewhere the path itself, just
    checked (a swap in the instant between would reach the library)."""
    fd = open_regular(path)
    try:
        if os.path.isdir(_PROC_FD):
            yield f"{_PROC_FD}/{fd}"
        else:  # pragma: no cover - not Linux
            yield os.fsdecode(path)
    finally:
        os.close(fd)


def regular_size(path: PathArg) -> int:
    """The size of the regular file at `path`, taken from the opened descriptor."""
    fd = open_regular(path)
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)
