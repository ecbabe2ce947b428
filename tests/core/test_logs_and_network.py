"""The rotating log in the data folder, and the network file system check (fed
mountinfo text: `parse_mountinfo` / `network_fs_type(..., mountinfo=...)` is the seam)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import logs
from app.core.storage.network import (
    DRIVE_REMOTE,
    network_fs_type,
    network_warning,
    parse_mountinfo,
    windows_network_kind,
)

MOUNTINFO = r"""22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
25 22 0:23 / /proc rw,nosuid - proc proc rw
40 22 0:35 / /mnt/share rw,relatime shared:20 - nfs4 server:/export rw,vers=4.2
41 40 8:3 / /mnt/share/local rw - ext4 /dev/sda3 rw
42 22 0:36 / /media/My\040Photos rw - cifs //nas/photos rw
43 22 0:37 / /home/me/remote rw - fuse.sshfs me@host:/ rw
"""


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    logs.stop_logging()
    root.setLevel(level)


def test_mountinfo_lines_give_mount_points_and_types() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert mounts[0].mount_point == "/" and mounts[0].fs_type == "ext4"
    assert mounts[2].fs_type == "nfs4"
    assert mounts[4].mount_point == "/media/My Photos"  # \040 is a space


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/home/me/library", None),
        ("/mnt/share/captionist", "nfs4"),
        ("/mnt/share", "nfs4"),
        ("/mnt/shared", None),  # a sibling, not inside /mnt/share
        ("/mnt/share/local/captionist", None),  # a local disk mounted inside the share
        ("/media/My Photos/data", "cifs"),
        ("/home/me/remote/x", "fuse.sshfs"),
    ],
)
def test_the_mount_holding_the_folder_decides(path: str, expected: str | None) -> None:
    assert network_fs_type(path, mountinfo=MOUNTINFO) == expected


def test_the_warning_names_the_file_system_and_the_way_out() -> None:
    text = network_warning("/mnt/share/captionist", mountinfo=MOUNTINFO)
    assert text is not None
    assert text.startswith("Your library is on a network drive (nfs4):")
    assert "--data-dir" in text
    assert network_warning("/home/me", mountinfo=MOUNTINFO) is None


def test_this_machines_temporary_folder_is_local(tmp_path: Path) -> None:
    assert network_fs_type(tmp_path) is None
    assert network_warning(tmp_path) is None


def test_the_log_lives_in_the_data_folder_and_rotates(
    tmp_path: Path, restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "MAX_BYTES", 2000)
    path = logs.setup_logging(tmp_path)
    assert path == tmp_path / "logs" / "captionist.log"
    log = logging.getLogger("captionist.test")
    for number in range(100):
        log.info("line %d %s", number, "x" * 100)
    assert path.read_text(encoding="utf-8").rstrip().endswith("x" * 100)
    assert (path.parent / "captionist.log.1").exists()
    assert len(list(path.parent.iterdir())) <= 1 + logs.BACKUPS


def test_a_second_setup_replaces_the_first(tmp_path: Path, restore_logging: None) -> None:
    logs.setup_logging(tmp_path / "a")
    second = logs.setup_logging(tmp_path / "b")
    logging.getLogger("captionist.test").warning("only in b")
    assert second is not None and "only in b" in second.read_text(encoding="utf-8")
    assert "only in b" not in (tmp_path / "a" / "logs" / "captionist.log").read_text()


def test_a_data_folder_that_cannot_be_written_logs_to_stderr_only(
    tmp_path: Path, restore_logging: None
) -> None:
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("")  # `logs` cannot be made inside it, even by root
    assert logs.setup_logging(not_a_folder) is None
    assert logging.lastResort in logging.getLogger().handlers


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (r"\\nas\photos\captionist", "UNC path"),  # UNC
        (r"Z:\captionist", "mapped drive"),  # a mapped drive (the double says remote)
        (r"C:\Users\me\AppData", None),
    ],
)
def test_windows_unc_paths_and_remote_drives(path: str, expected: str | None) -> None:
    def drive_type(root: str) -> int:  # double for GetDriveTypeW
        return DRIVE_REMOTE if root.upper().startswith("Z:") else 3  # 3: a fixed disk

    assert windows_network_kind(path, drive_type) == expected
