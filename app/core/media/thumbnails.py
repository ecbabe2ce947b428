"""Gallery thumbnails, made once and kept on disk.

A library is browsed far more often than it changes, so each thumbnail is decoded once
and then read back as a ~15 KB JPEG. The cache key is the file's path bytes, mtime,
size and the thumbnail side (calibre's scheme): an edited or replaced file gets a new
key, and no stale picture is ever shown for it. Keys are fanned out over 256
two-character folders so that no directory holds more than a few thousand entries.

Files are written atomically (photo.save_thumbnail: temp file + os.replace), so two
workers racing on the same key, or a crash mid-write, never leave half a JPEG behind.
The mtime of a cache file doubles as its "last used" time for prune(); it is bumped
at most once an hour per file, so warm reads cost a stat and no write.

No Qt here: the service layer (app/services/thumbnails.py) owns threads and QImages.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.core.media.photo import load_for_model, save_thumbnail
from app.core.media.video import poster_frame

__all__ = ["DEFAULT_SIDE", "Kind", "PruneResult", "make_thumbnail", "prune", "thumbnail_path"]

Kind = Literal["photo", "video"]
DEFAULT_SIDE = 256
TOUCH_AFTER_S = 3600.0  # refresh a hit's "last used" mtime at most this often
PRUNE_TO = 0.9  # prune() frees down to this fraction of max_bytes, so it runs rarely
STRAY_TEMP_AGE_S = 3600.0  # a temp file this old is a crashed write, not one in progress
_SUFFIX = ".jpg"


def thumbnail_path(
    cache_dir: Path, path: bytes | str, mtime_ns: int, size: int, side: int = DEFAULT_SIDE
) -> Path:
    """Where the thumbnail of this version of `path` lives (whether made yet or not).

    Path bytes rather than text, so names that are not valid UTF-8 get stable keys."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(os.fsencode(path))
    digest.update(f"\0{mtime_ns}\0{size}\0{side}".encode())
    key = digest.hexdigest()
    return Path(cache_dir) / key[:2] / f"{key}{_SUFFIX}"


def make_thumbnail(
    cache_dir: Path,
    path: bytes | str,
    mtime_ns: int,
    size: int,
    kind: Kind,
    side: int = DEFAULT_SIDE,
) -> Path:
    """The cached JPEG thumbnail of `path` (longest side <= `side`), made if missing.

    `mtime_ns` and `size` are the version the caller knows (the library's row), so a
    file changed since then is re-thumbnailed once the library catches up.
    Raises MediaError for a file that cannot be decoded, ValueError for a bad `kind`
    or `side`, OSError when the cache itself cannot be written (disk full)."""
    if kind not in ("photo", "video"):
        raise ValueError(f"kind must be 'photo' or 'video', not {kind!r}")
    if side < 1:
        raise ValueError("side must be at least 1")
    dest = thumbnail_path(cache_dir, path, mtime_ns, size, side)
    if _hit(dest):
        return dest
    image = load_for_model(path, max_side=side) if kind == "photo" else poster_frame(path, side)
    return save_thumbnail(image, dest, max_side=side)


def _hit(dest: Path) -> bool:
    """True if `dest` exists and is non-empty; marks it used for prune()'s LRU order."""
    try:
        st = dest.stat()
    except OSError:
        return False
    if st.st_size == 0:  # cannot come from save_thumbnail; a damaged disk: make it anew
        return False
    now = time.time()
    if now - st.st_mtime > TOUCH_AFTER_S:
        with contextlib.suppress(OSError):  # read-only cache: still a hit
            os.utime(dest, (now, now))
    return True


# -- keeping the cache bounded ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PruneResult:
    removed: int  # files deleted (thumbnails and stray temp files)
    freed_bytes: int
    kept_bytes: int


def prune(cache_dir: Path, max_bytes: int) -> PruneResult:
    """Delete least recently used thumbnails once the cache is over `max_bytes`.

    Frees down to PRUNE_TO of the limit, so a cache hovering at its limit is not
    walked and trimmed on every call. Temp files left by crashed writes go too.
    Meant for a background thread at start-up: it walks the whole cache."""
    if max_bytes < 0:
        raise ValueError("max_bytes must not be negative")
    entries: list[tuple[float, int, str]] = []
    removed = freed = 0
    now = time.time()
    for folder in _subfolders(Path(cache_dir)):
        with contextlib.suppress(OSError), os.scandir(folder) as it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if entry.name.endswith(_SUFFIX) and not entry.name.startswith("."):
                    entries.append((st.st_mtime, st.st_size, entry.path))
                elif (
                    entry.name.endswith(".tmp")
                    and now - st.st_mtime > STRAY_TEMP_AGE_S
                    and _unlink(entry.path)
                ):
                    removed, freed = removed + 1, freed + st.st_size
    total = sum(size for _, size, _ in entries)
    if total > max_bytes:
        entries.sort()  # oldest "last used" first
        target = int(max_bytes * PRUNE_TO)
        for _, size, file in entries:
            if total <= target:
                break
            if _unlink(file):
                total -= size
                removed, freed = removed + 1, freed + size
    return PruneResult(removed, freed, total)


def _subfolders(cache_dir: Path) -> list[str]:
    try:
        with os.scandir(cache_dir) as it:
            return [e.path for e in it if len(e.name) == 2 and e.is_dir(follow_symlinks=False)]
    except OSError:  # no cache yet
        return []


def _unlink(file: str) -> bool:
    try:
        os.unlink(file)
    except OSError:  # gone already (another pruner) or not ours to delete
        return False
    return True
