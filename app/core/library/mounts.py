"""Which filesystem a folder lives on, from /proc/mounts (Linux; elsewhere unknown).

Network and FUSE filesystems deliver no inotify events for changes made by other
machines, so the watcher rescans folders on them instead.
"""

from __future__ import annotations

import re

from app.core.library.roots import is_within

MOUNTS_FILE = "/proc/mounts"
# Filesystems where inotify only hears changes made by this machine, if any.
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smbfs",
        "smb3",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "ncpfs",
        "coda",
        "davfs",
    }
)


def remote_filesystem(path: bytes) -> str | None:
    """The type of a network or FUSE filesystem holding `path` or mounted inside it;
    None if all local or unknown (no /proc/mounts outside Linux).

    inotify there hears only the changes made through this very machine, so a
    photo added from a phone or another computer would never be seen.
    """
    mounts = _mounts()
    inside = [fstype for point, fstype in mounts if is_within(point, path)]
    holding = _deepest_mount(path, mounts)
    for fstype in [holding, *inside] if holding else inside:
        if fstype in NETWORK_FILESYSTEMS or fstype == "fuse" or fstype.startswith("fuse."):
            return fstype
    return None  # "fuseblk" (NTFS, exFAT drives) is a local disk: events work


def mount_type(path: bytes) -> str | None:
    """The type of the filesystem holding `path` (from /proc/mounts), if known."""
    return _deepest_mount(path, _mounts())


def _deepest_mount(path: bytes, mounts: list[tuple[bytes, str]]) -> str | None:
    best: bytes | None = None
    found: str | None = None
    for point, fstype in mounts:
        # ">=": a later mount on the same point hides the earlier one.
        if is_within(path, point) and (best is None or len(point) >= len(best)):
            best, found = point, fstype
    return found


def _mounts() -> list[tuple[bytes, str]]:
    """(mount point, filesystem type) for each line of /proc/mounts."""
    try:
        with open(MOUNTS_FILE, "rb") as mounts:
            lines = mounts.read().splitlines()
    except OSError:
        return []
    fields = [line.split() for line in lines]
    return [(_unescape_mount(f[1]), f[2].decode("ascii", "replace")) for f in fields if len(f) > 2]


def _unescape_mount(field: bytes) -> bytes:
    r"""/proc/mounts writes space, tab, newline and backslash as \040, \011, \012, \134."""
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field)
