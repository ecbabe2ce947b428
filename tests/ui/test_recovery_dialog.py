"""The window's answer to a damaged library, before the main window is built: restore
the newest good backup, rebuild from the folders, or quit (nothing touched)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.captioning.events import Fatal
from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.storage import backups
from app.core.storage.db import Database
from app.core.storage.problems import LibraryDamaged
from app.ui.window.main_window import MainWindow
from app.ui.window.recovery import RecoveryDialog, recover_if_damaged
from tests.core.test_library_damage import corrupt_page, make_library, random_bytes
from tests.media_factory import write_photo

WAIT_MS = 30_000


def open_dialog(qtbot: QtBot, database: Path) -> RecoveryDialog:
    found = backups.damage(database)
    assert found is not None
    dialog = RecoveryDialog(database, found)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_restore_brings_back_the_newest_good_backup(qtbot: QtBot, tmp_path: Path) -> None:
    database = tmp_path / "library.db"
    make_library(database)
    shutil.rmtree(backups.backup_folder(database))
    backups.take_backup(database, "good")
    corrupt_page(database)
    dialog = open_dialog(qtbot, database)
    assert dialog.restore_button.isEnabled()
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT_MS):
        dialog.restore_button.click()
    assert dialog.recovery is not None and dialog.recovery.set_aside.exists()
    assert backups.damage(database) is None


def test_rebuild_from_the_folders(qtbot: QtBot, tmp_path: Path) -> None:
    database = tmp_path / "library.db"
    folder = tmp_path / "Photos"
    write_photo(folder / "a.jpg", "astronaut")
    db = Database(database)
    try:
        Library(db).add_root(folder)
    finally:
        db.close()
    backups.take_backup(database, "with-folders")
    random_bytes(database)
    dialog = open_dialog(qtbot, database)
    assert dialog.rebuild_button.isEnabled()
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT_MS):
        dialog.rebuild_button.click()
    assert dialog.recovery is not None and dialog.recovery.scanned[0][1].new == 1


def test_quit_leaves_the_damaged_file_as_it_was(qtbot: QtBot, tmp_path: Path) -> None:
    database = tmp_path / "library.db"
    make_library(database)
    shutil.rmtree(backups.backup_folder(database))
    random_bytes(database)
    damaged = database.read_bytes()
    dialog = open_dialog(qtbot, database)
    assert not dialog.restore_button.isEnabled()  # no good backup
    with qtbot.waitSignal(dialog.rejected, timeout=WAIT_MS):
        dialog.quit_button.click()
    assert database.read_bytes() == damaged
    assert list(tmp_path.glob("library.db.damaged-*")) == []


def test_before_the_window_a_sound_library_asks_nothing_a_damaged_one_asks(
    qtbot: QtBot, tmp_path: Path
) -> None:
    database = tmp_path / "library.db"
    make_library(database)
    assert recover_if_damaged(database)  # sound: no dialog at all
    corrupt_page(database)

    def choose_quit() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, RecoveryDialog)
        assert "damaged" in dialog.windowTitle()
        dialog.quit_button.click()

    QTimer.singleShot(0, choose_quit)
    assert not recover_if_damaged(database)


def test_damage_found_while_the_window_is_open_is_said_once_and_offers_recovery(
    qtbot: QtBot, open_window: Callable[[], MainWindow], data_dir: DataDir
) -> None:
    """SQLite answers "malformed" to a statement the window runs: one dialog, nothing
    more written, and "Close and recover" closes the window asking for recovery; the
    recovery dialog then asks even where the quick check at open finds nothing."""
    make_library(data_dir.database)  # rows over many pages, a root that is not there
    window = open_window()
    window.db.engine.dispose()  # no page cached from before the damage
    corrupt_page(data_dir.database)
    for _ in range(2):  # the same damage found twice is said once
        with contextlib.suppress(LibraryDamaged), window.db.read() as conn:
            conn.exec_driver_sql("SELECT * FROM media_items ORDER BY name").all()
    qtbot.waitUntil(lambda: window.damage.box is not None, timeout=WAIT_MS)
    box = window.damage.box
    assert box is not None and "damaged" in box.windowTitle()
    assert window.damage.detail is not None and "malformed" in window.damage.detail
    with pytest.raises(LibraryDamaged), window.db.write():  # nothing more is written
        pass
    (recover,) = [b for b in box.buttons() if "recover" in b.text().lower()]
    recover.click()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert window.recovery_wanted

    def choose_quit() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, RecoveryDialog)
        dialog.quit_button.click()

    QTimer.singleShot(0, choose_quit)
    assert not recover_if_damaged(Path(tmp_copy_of_sound_library(data_dir)), "seen earlier")


def test_the_worker_stopping_on_damage_reaches_the_same_notice(
    qtbot: QtBot, open_window: Callable[[], MainWindow]
) -> None:
    window = open_window()
    window._worker.event_received.emit(Fatal("the library is damaged (malformed)", "damaged"))
    qtbot.waitUntil(lambda: window.damage.box is not None, timeout=WAIT_MS)
    assert window.damage.detail == "the library is damaged (malformed)"
    with pytest.raises(LibraryDamaged), window.db.write():  # the window stops writing too
        pass
    window.damage.box.reject()  # "Keep browsing": the window stays
    assert window.isVisible() and not window.recovery_wanted


def tmp_copy_of_sound_library(data_dir: DataDir) -> Path:
    sound = data_dir.root / "sound" / "library.db"
    sound.parent.mkdir()
    make_library(sound)
    return sound
