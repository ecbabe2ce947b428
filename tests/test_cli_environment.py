"""Problems of the machine, not of Captionist, are one sentence and an exit code: a
data dir that is a file, a folder where library.db should be, a file size limit
(what a full disk looks like to a writer), a read-only library (reads still work),
another process holding the write lock."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.storage import db as db_module
from app.core.storage.db import Database
from app.core.storage.problems import EXIT_STORAGE, LibraryBusy
from tests.media_factory import write_photo

ROOT = Path(__file__).resolve().parents[1]


def captionist(*args: str, limit_file_size: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if limit_file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        preexec_fn=limit,
    )


def assert_one_sentence(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == EXIT_STORAGE, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0]


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("not a folder")
    assert_one_sentence(captionist("--data-dir", str(data), "status"), "is a file")
    assert data.read_text() == "not a folder"


def test_library_db_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "data" / "library.db").mkdir(parents=True)
    assert_one_sentence(captionist("--data-dir", str(tmp_path / "data"), "status"), "is a folder")


def test_file_size_limit_while_creating_the_library(tmp_path: Path) -> None:
    """ulimit -f (RLIMIT_FSIZE): writes fail with EFBIG, as on a full disk."""
    result = captionist("--data-dir", str(tmp_path / "data"), "status", limit_file_size=8192)
    assert_one_sentence(result, "free some space")


@pytest.fixture
def read_only_data_dir(tmp_path: Path) -> Iterator[Path]:
    """A library made normally, then seen through a read-only bind mount (as root,
    chmod alone does not stop writes)."""
    source, data = tmp_path / "source", tmp_path / "data"
    photos = tmp_path / "photos"
    write_photo(photos / "astronaut.jpg")
    assert captionist("--data-dir", str(source), "scan", str(photos)).returncode == 0
    data.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(source), str(data)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr!r}")
    try:
        remount = ["mount", "-o", "remount,bind,ro", str(data)]
        assert subprocess.run(remount, capture_output=True).returncode == 0
        yield data
    finally:
        subprocess.run(["umount", str(data)], check=True)
        shutil.rmtree(source)


def test_read_only_library_reads_and_refuses_writes_in_a_sentence(
    read_only_data_dir: Path, tmp_path: Path
) -> None:
    data = str(read_only_data_dir)
    status = captionist("--data-dir", data, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert '"items": 1' in status.stdout
    found = captionist("--data-dir", data, "search", "astronaut")
    assert found.returncode == 0, found.stderr
    assert "astronaut.jpg" in found.stdout
    more = tmp_path / "more"
    write_photo(more / "coffee.jpg", "coffee")
    assert_one_sentence(captionist("--data-dir", data, "scan", str(more)), "read-only")


HOLD_WRITE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def hold_write_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_lock_held_past_the_timeout_gives_up_in_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 200)  # 10 s in real life
    db = Database(tmp_path / "library.db")
    holder = hold_write_lock(db.path, 2.0)
    try:
        with pytest.raises(LibraryBusy, match="another Captionist process"), db.write():
            pass
    finally:
        holder.wait(timeout=20)
        db.close()


def test_a_lock_held_past_the_timeout_is_waited_for_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What scan and the worker do: say they wait, keep waiting, then write."""
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 200)
    waits: list[float] = []
    db = Database(tmp_path / "library.db", on_lock_wait=lambda s: waits.append(s) or True)
    holder = hold_write_lock(db.path, 1.5)
    try:
        start = time.monotonic()
        with db.write() as conn:
            conn.exec_driver_sql("INSERT INTO settings (key, value) VALUES ('k', '1')")
        assert time.monotonic() - start > 0.5 and waits
        with db.session() as session:  # the ORM path waits the same way
            assert session is not None
    finally:
        holder.wait(timeout=20)
        db.close()
