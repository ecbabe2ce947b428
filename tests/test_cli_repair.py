"""A damaged library on the command line: one sentence and exit code 7 from every
command, never a traceback; `repair` restores the newest good backup or rebuilds,
keeping the damaged file aside."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from app.core.captioning.events import CAPTION_WORKER, Fatal, WorkerExit
from app.core.storage import backups
from app.core.storage.problems import EXIT_DAMAGED
from tests.core.test_library_damage import corrupt_page, make_library, random_bytes, truncate
from tests.media_factory import write_photo

ROOT = Path(__file__).resolve().parents[1]


def captionist(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_every_damage_is_one_sentence_and_exit_7(tmp_path: Path) -> None:
    for damage in (truncate, random_bytes, corrupt_page):
        data = tmp_path / damage.__name__
        data.mkdir()
        make_library(data / "library.db")
        damage(data / "library.db")
        before = (data / "library.db").read_bytes()
        for command in (["status"], ["search", "beach"]):
            result = captionist(data, *command)
            assert result.returncode == EXIT_DAMAGED, result.stderr
            assert "Traceback" not in result.stderr
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and "is damaged" in lines[0] and "repair" in lines[0]
        assert (data / "library.db").read_bytes() == before


def test_the_worker_on_a_damaged_library_says_so_as_an_event_and_exits_7(
    tmp_path: Path,
) -> None:
    """The window learns from this event that the library is damaged (and offers repair)."""
    make_library(tmp_path / "library.db")
    corrupt_page(tmp_path / "library.db")
    result = captionist(tmp_path, "worker")
    assert result.returncode == EXIT_DAMAGED == WorkerExit.DAMAGED, result.stderr
    (line,) = result.stdout.splitlines()
    event = CAPTION_WORKER.decode(line)
    assert isinstance(event, Fatal) and event.library_damaged and "repair" in event.error


def test_repair_restores_the_newest_good_backup(tmp_path: Path) -> None:
    db = tmp_path / "library.db"
    make_library(db)
    shutil.rmtree(backups.backup_folder(db))
    backups.take_backup(db, "good")
    corrupt_page(db)
    damaged = db.read_bytes()
    result = captionist(tmp_path, "repair")
    assert result.returncode == 0, result.stderr
    assert "restored the backup" in result.stdout and "kept as" in result.stdout
    (aside,) = tmp_path.glob("library.db.damaged-*")
    assert aside.read_bytes() == damaged
    status = captionist(tmp_path, "status")
    assert status.returncode == 0 and "400" in status.stdout
    again = captionist(tmp_path, "repair")
    assert again.returncode == 0 and "nothing to repair" in again.stdout


def test_repair_without_a_backup_says_rebuild(tmp_path: Path) -> None:
    db = tmp_path / "library.db"
    make_library(db)
    shutil.rmtree(backups.backup_folder(db))
    random_bytes(db)
    result = captionist(tmp_path, "repair")
    assert result.returncode == EXIT_DAMAGED
    assert "repair --rebuild" in result.stderr and "Traceback" not in result.stderr


def test_repair_rebuild_from_folders(tmp_path: Path) -> None:
    data = tmp_path / "data"
    photos = tmp_path / "Photos"
    write_photo(photos / "a.jpg", "astronaut")
    assert captionist(data, "scan", str(photos)).returncode == 0
    random_bytes(data / "library.db")
    damaged = (data / "library.db").read_bytes()
    # The day's backup was taken before the folder was added: no folders known.
    unknown = captionist(data, "repair", "--rebuild")
    assert unknown.returncode == 2 and "PATH" in unknown.stderr
    assert (data / "library.db").read_bytes() == damaged
    result = captionist(data, "repair", "--rebuild", str(photos))
    assert result.returncode == 0, result.stderr
    assert "rebuilt the library" in result.stdout
    status = captionist(data, "status", "--json")
    assert status.returncode == 0 and '"items": 1' in status.stdout
