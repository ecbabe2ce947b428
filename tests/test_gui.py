"""The library window, offscreen: add a folder, items get indexed, search shows them."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from app.core.captions import CaptionStore
from app.core.datadir import DataDir
from app.ui.main_window import MainWindow
from tests.media_factory import write_photo


def test_add_folder_then_search_as_you_type(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path
) -> None:
    photos = tmp_path / "Holiday"
    write_photo(photos / "astronaut.jpg")
    write_photo(photos / "coffee.png", "coffee")
    window = MainWindow(data_dir)
    qtbot.addWidget(window)
    window.show()

    window.add_folder(str(photos))
    qtbot.waitUntil(lambda: window.folders.count() == 1, timeout=10_000)
    qtbot.waitUntil(
        lambda: (
            "2 items" in window.statusBar().currentMessage()
            or "2 new" in window.statusBar().currentMessage()
        ),
        timeout=10_000,
    )
    assert window.folders.item(0).text() == "Holiday"

    with window._library.db.read() as conn:
        item_id = conn.exec_driver_sql(
            "SELECT id FROM media_items WHERE name = 'coffee.png'"
        ).scalar()
    CaptionStore(window._library.db).add_user_caption(item_id, "espresso cup on a saucer")
    qtbot.keyClicks(window.search_field, "espre")
    qtbot.waitUntil(lambda: window.results.count() == 1, timeout=5_000)
    assert window.results.item(0).text().startswith("coffee.png")
    assert "«espresso»" in window.results.item(0).text()

    window.search_field.setText("zebra")
    qtbot.waitUntil(
        lambda: (
            window.results.count() == 1 and window.results.item(0).text().startswith("No matches")
        ),
        timeout=5_000,
    )
    window.close()


def test_files_added_on_disk_appear_while_the_window_is_open(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path
) -> None:
    photos = tmp_path / "Camera"
    write_photo(photos / "first.jpg")
    window = MainWindow(data_dir)
    qtbot.addWidget(window)
    window.add_folder(str(photos))
    qtbot.waitUntil(lambda: window.results.count() == 1, timeout=10_000)

    write_photo(photos / "second.png", "coffee")  # the watcher sees it, the list follows

    qtbot.waitUntil(lambda: window.results.count() == 2, timeout=15_000)
    names = {window.results.item(i).text().split("\n")[0] for i in range(2)}
    assert names == {"first.jpg", "second.png"}
    window.close()


def test_captions_appear_in_the_window(qtbot: QtBot, data_dir: DataDir, tmp_path: Path) -> None:
    """The window runs the real caption worker process (tiny model): captions show up."""
    from app.core.library.library import Library
    from app.core.storage.db import Database
    from tests.models.conftest import fixture_pair

    model, mmproj = fixture_pair("smolvlm")
    setup = Library(Database(data_dir.database))
    for key, value in {
        "custom_model_path": str(model),
        "custom_mmproj_path": str(mmproj),
        "max_caption_tokens": 8,
        "temperature": 0.0,
    }.items():
        setup.settings.set(key, value)
    setup.db.close()
    write_photo(tmp_path / "Trip" / "astronaut.jpg")
    window = MainWindow(data_dir)
    qtbot.addWidget(window)
    window.add_folder(str(tmp_path / "Trip"))

    qtbot.waitUntil(lambda: "1 captioned" in window.statusBar().currentMessage(), timeout=60_000)
    qtbot.waitUntil(
        lambda: (
            window.results.count() == 1 and "no caption yet" not in window.results.item(0).text()
        ),
        timeout=10_000,
    )
    status = window.captioning.text()
    assert status and "waits" not in status and "crashed" not in status
    window.close()


def test_without_a_model_the_window_says_why_captions_wait(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path
) -> None:
    write_photo(tmp_path / "Trip" / "astronaut.jpg")
    window = MainWindow(data_dir)
    qtbot.addWidget(window)
    window.add_folder(str(tmp_path / "Trip"))
    qtbot.waitUntil(
        lambda: "no captioning model is installed" in window.captioning.text(), timeout=30_000
    )
    window.close()
