"""Is the library on a network file system? SQLite's locking is not reliable over NFS or
SMB: a second computer opening the same database can damage it (digiKam warns the same).

Linux: the mount holding the folder, from /proc/self/mountinfo. The parser takes the
text (`parse_mountinfo`, `network_fs_type(..., mountinfo=...)`): that is the seam tests
feed. Windows, best effort: a UNC path (\\\\server\\share) or a drive letter Windows calls
remote (GetDriveTypeW; `windows_network_kind` takes it as a seam). macOS is not checked
yet (the answer is None there).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

MOUNTINFO = Path("/proc/self/mountinfo")
DRIVE_REMOTE = 4  # GetDriveTypeW's answer for a mapped network drive
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
        if sys.platform == "win32":
            import ctypes

            return windows_network_kind(str(path), ctypes.windll.kernel32.GetDriveTypeW)
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


def windows_network_kind(path: str, drive_type: Callable[[str], int]) -> str | None:
    """What kind of network location `path` is on Windows ("UNC path", "mapped drive"),
    or None for a local disk."""
    windows_path = PureWindowsPath(os.path.abspath(path) if sys.platform == "win32" else path)
    anchor = windows_path.anchor
    if anchor.startswith(("\\\\", "//")):
        return "UNC path"
    if anchor and drive_type(anchor) == DRIVE_REMOTE:
        return "mapped drive"
    return None


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)
