"""The library window, offscreen, with the real caption worker process and a tiny model:
add a folder, browse smart views, right-click Caption this, edit, search, errors."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from app.core.captions import CaptionStore
from app.core.datadir import DataDir
from app.core.jobs import JobQueue
from app.core.library.library import Library
from app.core.settings import Settings
from app.core.storage.db import Database
from app.ui.window.main_window import MainWindow
from tests.caption_support import store_model_caption
from tests.media_factory import write_photo, write_video

WAIT = 20_000
CAPTION_WAIT = 90_000


def configure(data_dir: DataDir, **values: object) -> None:
    db = Database(data_dir.database)
    settings = Settings(db)
    for key, value in values.items():
        settings.set(key, value)
    db.close()


def tiny_model(data_dir: DataDir, **extra: object) -> None:
    from tests.models.conftest import fixture_pair

    model, mmproj = fixture_pair("smolvlm")
    configure(
        data_dir,
        custom_model_path=str(model),
        custom_mmproj_path=str(mmproj),
        max_caption_tokens=8,
        temperature=0.0,
        **extra,
    )


def window_with(
    qtbot: QtBot, open_window: object, folder: Path, photos: dict[str, str]
) -> MainWindow:
    """A window whose library is `folder` holding these real photos (file: skimage name),
    shown once every item's row is loaded."""
    for name, picture in photos.items():
        write_photo(folder / name, picture)
    window = open_window()  # type: ignore[operator]
    window.add_folder(str(folder))
    qtbot.waitUntil(lambda: loaded(window, len(photos)), timeout=WAIT)
    return window


def shown_names(window: MainWindow) -> set[str]:
    model = window.gallery_model
    rows = [model.row_of(i) for i in model.ids()]
    return {r.name for r in rows if r is not None}


def loaded(window: MainWindow, count: int) -> bool:
    model = window.gallery_model
    return model.rowCount() == count and all(model.row_of(i) for i in model.ids())


def has_caption(window: MainWindow, item: int) -> bool:
    row = window.gallery_model.row_of(item)
    return row is not None and row.caption is not None


def item_id(window: MainWindow, name: str) -> int:
    with window.db.read() as conn:
        return conn.exec_driver_sql(
            "SELECT id FROM media_items WHERE name = ?", (name,)
        ).scalar_one()


def select_view(window: MainWindow, view: str) -> None:
    window.sidebar.select_view(view)


def test_add_folder_items_appear_and_smart_views_filter(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    photos = tmp_path / "Holiday"
    write_photo(photos / "astronaut.jpg")
    write_photo(photos / "coffee.png", "coffee")
    write_video(photos / "clip.mp4")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    window = open_window()  # type: ignore[operator]
    window.add_folder(str(photos))
    qtbot.waitUntil(lambda: loaded(window, 4), timeout=WAIT)
    assert shown_names(window) == {"astronaut.jpg", "coffee.png", "clip.mp4", "broken.jpg"}
    folders = window.sidebar._folders_header
    qtbot.waitUntil(lambda: folders.childCount() == 1, timeout=WAIT)
    assert folders.child(0).text(0) == "Holiday"

    store = CaptionStore(window.db)
    store.add_user_caption(item_id(window, "coffee.png"), "my espresso")
    store_model_caption(window.db, item_id(window, "astronaut.jpg"), "a person in a suit")
    expected = {
        "photos": {"astronaut.jpg", "coffee.png", "broken.jpg"},
        "videos": {"clip.mp4"},
        "uncaptioned": {"clip.mp4", "broken.jpg"},
        "needs_review": {"astronaut.jpg"},
        "by_me": {"coffee.png"},
        "errors": {"broken.jpg"},
        "all": {"astronaut.jpg", "coffee.png", "clip.mp4", "broken.jpg"},
    }
    for view, names in expected.items():
        select_view(window, view)
        qtbot.waitUntil(
            lambda n=names: shown_names(window) == n and window.gallery_model.rowCount() == len(n),
            timeout=WAIT,
        )
    window.browser.reload_counts()
    qtbot.waitUntil(lambda: window.sidebar._views["needs_review"].text(1) == "1", timeout=WAIT)
    assert window.sidebar._views["all"].text(1) == "4"


def test_search_shows_matches_in_the_grid_and_says_when_nothing_matches(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = window_with(
        qtbot,
        open_window,
        tmp_path / "Trip",
        {"astronaut.jpg": "astronaut", "coffee.png": "coffee"},
    )
    CaptionStore(window.db).add_user_caption(item_id(window, "coffee.png"), "espresso cup")
    qtbot.keyClicks(window.toolbar.search, "espre")
    qtbot.waitUntil(
        lambda: shown_names(window) == {"coffee.png"} and window.gallery_model.rowCount() == 1,
        timeout=WAIT,
    )
    hit = window.gallery_model.hit_of(item_id(window, "coffee.png"))
    assert hit is not None and "«espresso»" in hit.snippet
    assert window.toolbar.count.text() == "1 match"
    window.toolbar.search.setText("zebra")
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 0, timeout=WAIT)
    qtbot.waitUntil(lambda: window.empty_hint.isVisible(), timeout=WAIT)
    assert "zebra" in window.empty_hint.text() and "Try" in window.empty_hint.text()


def test_right_click_caption_this_captions_with_the_real_worker(
    qtbot: QtBot, open_window: object, data_dir: DataDir, tmp_path: Path
) -> None:
    """auto-caption off: nothing is captioned until the user asks for it."""
    tiny_model(data_dir, auto_caption=False)
    window = window_with(
        qtbot,
        open_window,
        tmp_path / "Album",
        {"astronaut.jpg": "astronaut", "rocket.jpg": "rocket"},
    )
    target = item_id(window, "rocket.jpg")
    window.gallery.select_item(target)
    rect = window.gallery.visualRect(window.gallery_model.index_of(target))
    window.gallery.customContextMenuRequested.emit(rect.center())
    menu: QMenu = window.items.last_menu
    texts = [a.text() for a in menu.actions() if a.text()]
    for wanted in (
        "Caption this",
        "Accept caption",
        "Edit caption",
        "Copy caption",
        "Open",
        "Show in folder",
        "Remove from library",
    ):
        assert wanted in texts
    menu.close()
    window.items.caption.trigger()

    qtbot.waitUntil(lambda: has_caption(window, target), timeout=CAPTION_WAIT)
    row = window.gallery_model.row_of(target)
    assert row.tags is not None and row.needs_review
    other = window.gallery_model.row_of(item_id(window, "astronaut.jpg"))
    assert other is not None and other.caption is None  # only what was asked for
    # The status bar follows the worker's captions through the change hub (it went stale).
    qtbot.waitUntil(
        lambda: "2 items · 1 captioned · 0 waiting" in window.totals.label.text(), timeout=WAIT
    )


def test_remove_from_library_and_undo(qtbot: QtBot, open_window: object, tmp_path: Path) -> None:
    window = window_with(
        qtbot,
        open_window,
        tmp_path / "Album",
        {"astronaut.jpg": "astronaut", "rocket.jpg": "rocket"},
    )
    window.gallery.select_item(item_id(window, "rocket.jpg"))
    window.items.remove.trigger()
    qtbot.waitUntil(
        lambda: shown_names(window) == {"astronaut.jpg"} and window.gallery_model.rowCount() == 1,
        timeout=WAIT,
    )
    window.undo_stack.undo()
    qtbot.waitUntil(lambda: loaded(window, 2), timeout=WAIT)


def test_errors_view_lists_unreadable_files_with_reasons(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    photos = tmp_path / "Mixed"
    write_photo(photos / "fine.jpg")
    (photos / "empty.jpg").write_bytes(b"")
    window = open_window()  # type: ignore[operator]
    window.add_folder(str(photos))
    qtbot.waitUntil(lambda: loaded(window, 2), timeout=WAIT)
    select_view(window, "errors")
    qtbot.waitUntil(
        lambda: shown_names(window) == {"empty.jpg"} and window.gallery_model.rowCount() == 1,
        timeout=WAIT,
    )
    row = window.gallery_model.row_of(item_id(window, "empty.jpg"))
    assert row.state == "error" and row.error


def test_window_remembers_zoom_view_and_sort(
    qtbot: QtBot, open_window: object, data_dir: DataDir
) -> None:
    window = open_window()  # type: ignore[operator]
    window.toolbar.zoom.setValue(240)
    window.toolbar.sort.setCurrentIndex(window.toolbar.sort.findData("name"))
    select_view(window, "videos")
    window.close()
    again = open_window()  # type: ignore[operator]
    assert again.toolbar.zoom.value() == 240
    assert again.gallery.delegate.thumb_side == 240
    assert again.toolbar.sort.currentData() == "name"
    assert again.sidebar.current_selection() == ("videos", None)


def test_without_a_model_the_window_says_why_captions_wait(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    write_photo(tmp_path / "Trip" / "astronaut.jpg")
    window = open_window()  # type: ignore[operator]
    window.add_folder(str(tmp_path / "Trip"))
    qtbot.waitUntil(
        lambda: window.activity.status.text() == "No captioning model yet", timeout=WAIT
    )
    assert "no captioning model is installed" in window.activity.detail_text.text()


def test_files_added_on_disk_appear_while_the_window_is_open(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "Camera", {"first.jpg": "astronaut"})
    write_photo(
        tmp_path / "Camera" / "second.png", "coffee"
    )  # the watcher sees it, the grid follows
    qtbot.waitUntil(lambda: shown_names(window) == {"first.jpg", "second.png"}, timeout=WAIT)


def test_pause_stops_captioning_and_resume_continues(
    qtbot: QtBot, open_window: object, data_dir: DataDir, tmp_path: Path
) -> None:
    tiny_model(data_dir, queue_paused=True)
    window = window_with(qtbot, open_window, tmp_path / "Album", {"astronaut.jpg": "astronaut"})
    qtbot.waitUntil(lambda: "paused" in window.activity.status.text().lower(), timeout=WAIT)
    assert JobQueue(window.db).counts().get("done", 0) == 0
    window.activity.pause_button.click()  # resume
    target = item_id(window, "astronaut.jpg")
    qtbot.waitUntil(lambda: has_caption(window, target), timeout=CAPTION_WAIT)
    assert Library(window.db).status().captioned == 1


def test_edit_caption_in_details_is_mine_is_a_correction_and_is_searchable(
    qtbot: QtBot, open_window: object, data_dir: DataDir, tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "Album", {"rocket.jpg": "rocket"})
    target = item_id(window, "rocket.jpg")
    store = CaptionStore(window.db)
    store_model_caption(
        window.db, target, "a tall tower", ["tower"], model_id="smolvlm", prompt_id="short"
    )
    window.gallery.select_item(target)
    panel = window.details.panel
    qtbot.waitUntil(lambda: panel.editor.text() == "a tall tower", timeout=WAIT)
    panel.editor.editor.setPlainText("A Saturn V rocket on the launch pad")
    panel.editor.save_button.click()
    qtbot.waitUntil(lambda: store.current(target).source == "user", timeout=WAIT)
    (pair,) = store.corrections()
    assert (pair.model_caption.text, pair.user_caption.text) == (
        "a tall tower",
        "A Saturn V rocket on the launch pad",
    )
    assert pair.prompt_id == "short"
    qtbot.waitUntil(
        lambda: (
            (window.gallery_model.row_of(target) or None) is not None
            and window.gallery_model.row_of(target).source == "user"
        ),
        timeout=WAIT,
    )
    qtbot.keyClicks(window.toolbar.search, "saturn")
    qtbot.waitUntil(
        lambda: window.gallery_model.ids() == [target] and window.gallery_model.has_hits(),
        timeout=WAIT,
    )
    window.undo_stack.undo()  # the AI's words come back (as the user's choice)
    qtbot.waitUntil(lambda: store.current(target).text == "a tall tower", timeout=WAIT)
