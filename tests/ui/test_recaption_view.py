"""Captioning again everything a view or search shows: the menu says how many,
the confirmation says how many, with which model and prompt, and that the user's own
captions are kept; no queues nothing; yes queues exactly the listed items, behind
"Caption this"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMenu, QMessageBox
from pytestqt.qtbot import QtBot

from app.core.captions import CaptionStore
from app.core.jobs import PRIORITY_BULK, PRIORITY_USER
from app.core.storage.schema import Job
from app.ui.window.main_window import MainWindow
from models.prompts import builtin_prompts
from tests.caption_support import store_model_caption
from tests.ui.test_main_window import WAIT, configure, item_id, window_with

PHOTOS = {"astronaut.jpg": "astronaut", "coffee.png": "coffee", "rocket.jpg": "rocket"}
MODELS = {"smol-test": "Smol Test VLM"}
Asked = list[tuple[str, str]]


@pytest.fixture
def window(qtbot: QtBot, open_window: object, data_dir: Path, tmp_path: Path) -> MainWindow:
    """Three photos, nothing queued by the scanner; "rocket" finds two of them, one of
    which carries the user's own caption."""
    configure(data_dir, auto_caption=False)  # type: ignore[arg-type]
    window = window_with(qtbot, open_window, tmp_path / "Trip", PHOTOS)
    store_model_caption(window.db, item_id(window, "rocket.jpg"), "a rocket on the pad")
    CaptionStore(window.db).add_user_caption(
        item_id(window, "coffee.png"), "espresso before the rocket launch"
    )
    # The installed models are read at start (none here): offer one as if installed.
    qtbot.waitUntil(lambda: bool(window.items.again_menu.actions()), timeout=WAIT)
    prompts = {p.id: p.name for p in builtin_prompts().values()}
    window.items.set_choices(prompts, MODELS)
    return window


def search_for(qtbot: QtBot, window: MainWindow, text: str, count: int) -> None:
    window.toolbar.search.setText(text)
    qtbot.waitUntil(
        lambda: window.items.whole.menu.title() == f"All {count} found by “{text}” with…",
        timeout=WAIT,
    )


def answering(yes: bool, asked: Asked) -> Callable[[str, str, Callable[[], None]], None]:
    def confirm(question: str, details: str, on_yes: Callable[[], None]) -> None:
        asked.append((question, details))
        if yes:
            on_yes()

    return confirm


def choice(menu: QMenu, text: str) -> None:
    action = next(a for a in menu.actions() if a.text() == text)
    action.trigger()


def open_jobs(window: MainWindow) -> dict[int, tuple[int, dict | None]]:
    with window.db.read() as conn:
        rows = conn.execute(
            Job.__table__.select().where(Job.state.in_(("queued", "running")))
        ).mappings()
        return {r["item_id"]: (r["priority"], r["params"]) for r in rows}


def test_the_menu_offers_everything_the_view_shows_with_its_count(
    qtbot: QtBot, window: MainWindow
) -> None:
    whole = window.items.whole.menu
    qtbot.waitUntil(lambda: whole.title() == "All 3 in this view with…", timeout=WAIT)
    assert whole.isEnabled()
    assert whole.menuAction() in window.items.again_menu.actions()  # Item menu's submenu
    texts = [a.text() for a in whole.actions() if a.text()]
    assert "Prompt: Detailed description" in texts and "Model: Smol Test VLM" in texts
    # The right-click menu holds the same "Caption again with…".
    window.gallery.select_item(item_id(window, "rocket.jpg"))
    window.items.context_menu(window.gallery.viewport().rect().center())
    assert window.items.again_menu.menuAction() in window.items.last_menu.actions()
    window.items.last_menu.close()

    window.sidebar.select_view("by_me")
    qtbot.waitUntil(lambda: whole.title() == "All 1 in this view with…", timeout=WAIT)
    search_for(qtbot, window, "rocket", 1)  # the search runs within the view, as listed


def test_declining_the_confirmation_queues_nothing(qtbot: QtBot, window: MainWindow) -> None:
    search_for(qtbot, window, "rocket", 2)
    asked: Asked = []
    window.items.whole.confirm = answering(False, asked)

    choice(window.items.whole.menu, "Prompt: Detailed description")

    qtbot.waitUntil(lambda: bool(asked), timeout=WAIT)
    question, details = asked[0]
    assert question == "Caption all 2 items found by “rocket” again?"
    # No model is chosen in the settings: the first installed one captions.
    assert "Model: Smol Test VLM" in details
    assert "Prompt: Detailed description" in details
    assert "1 item of them has a caption you wrote: yours stay as they are" in details
    qtbot.wait(300)
    assert open_jobs(window) == {}


def test_accepting_queues_exactly_the_listed_items_behind_caption_this(
    qtbot: QtBot, window: MainWindow
) -> None:
    search_for(qtbot, window, "rocket", 2)
    asked: Asked = []
    window.items.whole.confirm = answering(True, asked)

    choice(window.items.whole.menu, "Model: Smol Test VLM")

    rocket, coffee = item_id(window, "rocket.jpg"), item_id(window, "coffee.png")
    params = {"model_override": {"model": "smol-test"}}
    qtbot.waitUntil(lambda: len(open_jobs(window)) == 2, timeout=WAIT)
    assert open_jobs(window) == {rocket: (PRIORITY_BULK, params), coffee: (PRIORITY_BULK, params)}
    assert "Model: Smol Test VLM" in asked[0][1] and "Prompt: Short caption" in asked[0][1]
    qtbot.waitUntil(
        lambda: "Queued 2 items to caption again" in window.statusBar().currentMessage(),
        timeout=WAIT,
    )
    # "Caption this" on one of them still takes it ahead of the re-caption.
    assert PRIORITY_BULK < PRIORITY_USER
    window.gallery.select_item(rocket)
    window.items.caption.trigger()
    qtbot.waitUntil(lambda: open_jobs(window)[rocket][0] == PRIORITY_USER, timeout=WAIT)
    assert open_jobs(window)[coffee][0] == PRIORITY_BULK


def test_the_real_confirmation_box_names_it_all_and_cancel_is_the_default(
    qtbot: QtBot, window: MainWindow
) -> None:
    search_for(qtbot, window, "rocket", 2)
    whole = window.items.whole

    choice(whole.menu, "Prompt: Alt text")

    qtbot.waitUntil(lambda: whole.last_box is not None and whole.last_box.isVisible(), timeout=WAIT)
    box = whole.last_box
    assert box is not None and box.objectName() == "recaption_listing_confirm"
    assert box.text() == "Caption all 2 items found by “rocket” again?"
    assert "Prompt: Alt text" in box.informativeText()
    assert "yours stay as they are" in box.informativeText()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.wait(300)
    assert open_jobs(window) == {}
