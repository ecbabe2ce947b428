"""The window a photographer keeps open: the status bar's counts follow every change,
the no-model state offers a model, and a failure is told once, in words."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.captioning.events import Failed, Finished
from app.core.jobs import JobQueue
from app.ui.window.main_window import MainWindow
from app.ui.window.status import totals_text
from app.ui.words import WAITING_FOR_MODEL, queued_badge, set_waiting_for_model
from tests.caption_support import store_model_caption
from tests.media_factory import write_photo
from tests.ui.test_main_window import item_id, loaded

WAIT = 20_000


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A download fails at once (nothing listens on port 9) instead of fetching 546 MB."""
    monkeypatch.setenv("CAPTIONIST_HF_ENDPOINT", "http://127.0.0.1:9")
    yield
    set_waiting_for_model(False)


def library_window(qtbot: QtBot, open_window: object, folder: Path, count: int) -> MainWindow:
    for n in range(count):
        write_photo(folder / f"photo{n:02d}.jpg", size=(48, 32))
    window: MainWindow = open_window()  # type: ignore[operator]
    window.add_folder(str(folder))
    qtbot.waitUntil(lambda: loaded(window, count), timeout=WAIT)
    return window


def counts(window: MainWindow) -> str:
    return window.totals.label.text()


def test_status_counts_follow_captions_deletes_and_folder_removal(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = library_window(qtbot, open_window, tmp_path / "Trip", 4)
    qtbot.waitUntil(lambda: counts(window) == "4 items · 0 captioned · 4 waiting", timeout=WAIT)
    ids = [item_id(window, f"photo{n:02d}.jpg") for n in range(4)]

    # Each caption the worker stores reaches the status bar through the hub.
    for item in ids[:3]:
        caption = store_model_caption(window.db, item, f"photo {item}")
        window._worker._arrived(Finished(caption.id, item, 1.0, caption.text, []))
    qtbot.waitUntil(lambda: counts(window) == "4 items · 3 captioned · 1 waiting", timeout=WAIT)
    queue = JobQueue(window.db)
    job = queue.claim_next()
    assert job is not None and job.item_id == ids[3]
    queue.finish(job.id, error="the model ran out of memory")
    window._worker._arrived(Failed(job.id, ids[3], "the model ran out of memory"))
    qtbot.waitUntil(lambda: counts(window) == "4 items · 3 captioned · 0 waiting", timeout=WAIT)
    qtbot.waitUntil(
        lambda: window.activity.progress_label.text() == "3 of 4 items captioned · 1 failed",
        timeout=WAIT,
    )

    # A delete: the toolbar and the status bar agree.
    window.gallery.select_item(ids[0])
    window.items.remove.trigger()
    qtbot.waitUntil(lambda: counts(window).startswith("3 items ·"), timeout=WAIT)
    qtbot.waitUntil(lambda: window.toolbar.count.text() == "3 items", timeout=WAIT)
    assert counts(window) == "3 items · 2 captioned · 0 waiting"

    # The folder goes: nothing is left to count.
    root = window.library.roots()[0].id
    window.folders.confirm = lambda _question, _details, yes: yes()  # "Remove" answered
    window.remove_folder(root)
    qtbot.waitUntil(lambda: counts(window) == "0 items · 0 captioned · 0 waiting", timeout=WAIT)
    qtbot.waitUntil(
        lambda: (
            window.activity.status.text() != "All captioned"
            and window.activity.progress_label.text() == "No photos or videos yet"
        ),
        timeout=WAIT,
    )


def test_totals_text_counts_with_the_right_noun() -> None:
    from app.core.library.library import LibraryStatus

    one = LibraryStatus(1, 1, 0, 0, 1, 0, 0, 0)
    assert totals_text(one) == "1 item · 0 captioned · 1 waiting"
    many = LibraryStatus(1234, 1200, 34, 1000, 2, 1, 3, 0)
    assert totals_text(many) == "1,234 items · 1,000 captioned · 3 waiting · 3 unreadable"


def test_without_a_model_the_window_offers_one(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = library_window(qtbot, open_window, tmp_path / "Trip", 2)
    panel = window.activity
    qtbot.waitUntil(lambda: panel.state == "no_model", timeout=WAIT)
    assert panel.status.text() == "No captioning model yet"
    assert panel.no_model_card.isVisible()
    qtbot.waitUntil(panel.download_model_button.isEnabled, timeout=WAIT)
    offered = panel.download_model_button.text().replace("\n", " — ")  # 2 lines if narrow
    assert offered == "Download SmolVLM2 500M Video — 546 MB"
    # Queued items' badges say why nothing happens.
    assert queued_badge() == WAITING_FOR_MODEL
    # Said once: in the panel, not again in the status bar.
    assert "captioning" not in window.statusBar().currentMessage().lower()

    # "Use my own model files…" opens Settings on its Models page.
    panel.own_model_button.click()
    dialog = window.extras.settings_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Models"
    dialog.close()

    # Download starts the shared download; its failure shows in one place, in words.
    panel.download_model_button.click()
    qtbot.waitUntil(
        lambda: panel.download.wants_space() and "could not" in panel.download.title.full_text(),
        timeout=WAIT,
    )
    assert panel.download.title.full_text().startswith("SmolVLM2 500M Video could not be")
    assert "smolvlm2-500m" not in panel.download.title.full_text()
    assert "download" not in window.statusBar().currentMessage().lower()
    assert not panel.note.isVisible() or "download" not in panel.note.text().lower()
    assert panel.download_model_button.isEnabled()  # try again
