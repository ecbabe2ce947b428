"""Is the library on a network file system? SQLite's locking is not reliable over NFS or
SMB: a second computer opening the same database can damage it (digiKam warns the same).

Linux: the mount holding the folder, from /proc/self/mountinfo. The parser takes the
text (`parse_mountinfo`, `network_fs_type(..., mountinfo=...)`): that is the seam tests
feed. Other systems are not checked yet (the answer is None there).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
NETWORK_FS_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "fuse.sshfs",
        "sshfs",
        "9p",
        "afs",
        "ncpfs",
        "coda",
        "ceph",
        "fuse.ceph",
        "glusterfs",
        "fuse.glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "davfs",
        "fuse.davfs",
        "fuse.rclone",
        "fuse.s3fs",
    }
)
_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fs_type: str


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts in /proc/self/mountinfo's format: `id parent major:minor root
    mount-point options [optional fields…] - fs-type source super-options`."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        dash = fields.index("-", 6)
        if len(fields) <= dash + 1:
            continue
        mounts.append(Mount(_unescape(fields[4]), fields[dash + 1]))
    return mounts


def mount_of(path: str | os.PathLike[str], mounts: list[Mount]) -> Mount | None:
    """The mount holding `path`: the longest mount point above it (the later of two
    at the same point, which hides the earlier)."""
    target = os.path.abspath(path)
    best: Mount | None = None
    for mount in mounts:
        point = mount.mount_point
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.mount_point)):
            best = mount
    return best


def network_fs_type(path: str | os.PathLike[str], mountinfo: str | None = None) -> str | None:
    """The network file system `path` is on ("nfs4", "cifs", …), or None when it is on
    a local disk or cannot be told. `mountinfo` replaces reading /proc/self/mountinfo."""
    if mountinfo is None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            mountinfo = MOUNTINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    try:
        resolved = Path(path).resolve()
    except OSError:
        resolved = Path(os.path.abspath(path))
    mount = mount_of(resolved, parse_mountinfo(mountinfo))
    if mount is None or mount.fs_type not in NETWORK_FS_TYPES:
        return None
    return mount.fs_type


def network_warning(path: str | os.PathLike[str], mountinfo: str | None = None) -> str | None:
    """The sentence to show once at start when the library is on a network drive."""
    fs_type = network_fs_type(path, mountinfo)
    if fs_type is None:
        return None
    return (
        f"Your library is on a network drive ({fs_type}): SQLite databases can be "
        "damaged there when another computer opens them; keep the data folder on a "
        "local disk (--data-dir)"
    )


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)
