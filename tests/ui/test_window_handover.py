"""The open window receiving paths from another launch: it comes forward, queues what it
can first in line (adding the folder), lists what it cannot, and keeps working."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from app.core.jobs import PRIORITY_USER
from app.ui.window.main_window import MainWindow
from tests.media_factory import write_photo
from tests.ui.test_main_window import WAIT, item_id, loaded


def jobs(window: MainWindow) -> dict[int, int]:
    with window.db.read() as conn:
        rows = conn.exec_driver_sql("SELECT item_id, priority FROM jobs").all()
    return {item: priority for item, priority in rows}


def test_handed_over_files_are_added_queued_and_shown(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    photo = write_photo(tmp_path / "Downloads" / "a photo.jpg", "astronaut")
    missing = tmp_path / "Downloads" / "gone.jpg"
    window: MainWindow = open_window()  # type: ignore[operator]
    window.showMinimized()

    with qtbot.waitSignal(window.handover.handled, timeout=WAIT) as handled:
        window.handover.receive([str(photo), str(missing)])
    assert not window.isMinimized()  # brought forward at once
    result = handled.args[0]
    assert result.errors == {str(missing): "no such file"}

    target = item_id(window, "a photo.jpg")
    assert jobs(window) == {target: PRIORITY_USER}
    qtbot.waitUntil(lambda: loaded(window, 1), timeout=WAIT)  # the gallery shows it…
    qtbot.waitUntil(lambda: window.gallery.current_item() == target, timeout=WAIT)  # …selected
    assert window.statusBar().currentMessage() == (
        "Queued 1 item at the front of the line; 1 could not be used"
    )
    box = window.findChild(QMessageBox, "handover_errors")
    assert box is not None and box.isVisible()
    assert box.text() == "1 of the 2 paths sent to Captionist could not be used:"
    assert box.informativeText() == "gone.jpg: no such file"
    box.close()


def test_open_with_adds_and_shows_without_queueing_first(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    photo = write_photo(tmp_path / "Camera" / "b.png", "coffee")
    window: MainWindow = open_window()  # type: ignore[operator]
    with qtbot.waitSignal(window.handover.handled, timeout=WAIT):
        window.handover.receive([str(photo)], caption=False)
    target = item_id(window, "b.png")
    qtbot.waitUntil(lambda: window.gallery.current_item() == target, timeout=WAIT)
    assert PRIORITY_USER not in jobs(window).values()  # auto-caption takes it in turn
    assert window.statusBar().currentMessage() == "Added 1 item to the library"


def test_a_launch_without_paths_only_raises_the_window(qtbot: QtBot, open_window: object) -> None:
    window: MainWindow = open_window()  # type: ignore[operator]
    window.showMinimized()
    with qtbot.assertNotEmitted(window.handover.handled, wait=300):
        window.handover.receive([])
    assert not window.isMinimized()
    assert jobs(window) == {}
