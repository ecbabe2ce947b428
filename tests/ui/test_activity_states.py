"""The activity panel says what is true of the library, offers a model when there is
none, and keeps its buttons still whatever it shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app.core.captioning.events import Fatal, Finished, Idle, Paused, Progress, Started, Waiting
from app.core.library.library import Library
from app.core.queue_status import QueueActions
from app.core.settings import Settings
from app.core.storage.db import Database
from app.services.changes import Changes
from app.ui.activity.panel import ActivityPanel
from tests.caption_support import store_model_caption
from tests.media_factory import write_photo
from tests.ui.test_activity_panel import DownloadBridgeDouble, fail, scan

WAIT_MS = 5000
NO_MODEL = Fatal(
    error="no captioning model is installed yet: download one (Models, or "
    "`captionist models download ID`) or choose a GGUF model and its mmproj",
    reason="no_model",
)


@pytest.fixture
def panel(qtbot: QtBot, db: Database) -> Iterator[ActivityPanel]:
    widget = ActivityPanel(QueueActions(db))
    qtbot.addWidget(widget)
    widget.resize(320, widget.sizeHint().height())
    widget.show()
    yield widget
    widget.shutdown()


def photos(library: Library, folder: Path, count: int) -> list[int]:
    for n in range(count):
        write_photo(folder / f"photo{n:02d}.jpg", size=(32, 24))
    return sorted(scan(library, folder).values())


def test_counts_are_the_librarys_not_the_engines(
    qtbot: QtBot, panel: ActivityPanel, library: Library, photo_dir: Path
) -> None:
    ids = photos(library, photo_dir, 14)
    for item in ids[:13]:
        store_model_caption(library.db, item, f"caption {item}")
    failed = fail(library.jobs, "llama.cpp failed while captioning (llama_decode returned 1)")
    assert failed.item == ids[13]

    # The engine's own tallies (29 "done" since it started) count for nothing.
    panel.handle_worker_event(Started(job=1, item=ids[0], kind="photo"))
    panel.handle_worker_event(Progress(done=29, total=29, per_minute=12.0, eta_seconds=None))
    panel.handle_worker_event(Finished(job=1, item=ids[0], seconds=1.0, caption="x", tags=[]))
    panel.handle_worker_event(failed)
    panel.handle_worker_event(Idle())
    qtbot.waitUntil(
        lambda: panel.progress_label.text() == "13 of 14 items captioned · 1 failed",
        timeout=WAIT_MS,
    )
    assert panel.status.text() == "1 item could not be captioned"
    assert panel.status.property("tone") == "warn"
    assert (panel.progress.value(), panel.progress.maximum()) == (13, 14)
    assert "All captioned" not in panel.status.text()

    # The failed one is captioned after a retry: now it is true.
    store_model_caption(library.db, ids[13], "caption")
    panel.apply_changes(Changes.of_items([ids[13]], counts=True))
    qtbot.waitUntil(lambda: panel.status.text() == "All captioned", timeout=WAIT_MS)
    assert panel.status.property("tone") == "ok"
    assert panel.progress_label.text() == "All 14 items captioned"


def test_paused_with_everything_captioned_says_so(
    qtbot: QtBot, panel: ActivityPanel, library: Library, photo_dir: Path
) -> None:
    ids = photos(library, photo_dir, 2)
    for item in ids:
        store_model_caption(library.db, item, "caption")
    Settings(library.db).set("queue_paused", True)
    panel.handle_worker_event(Paused())
    qtbot.waitUntil(lambda: panel.status.text() == "All captioned", timeout=WAIT_MS)
    assert panel.pause_button.text() == "Resume"
    assert panel.progress_label.text() == "All 2 items captioned"


def test_waiting_for_inference_servers_says_why(
    qtbot: QtBot, panel: ActivityPanel, library: Library, photo_dir: Path
) -> None:
    photos(library, photo_dir, 2)
    reason = "no inference server can take captions now (gpu-box: connection refused)"
    panel.handle_worker_event(Waiting(reason))
    qtbot.waitUntil(lambda: panel.status.text() == f"Waiting: {reason}", timeout=WAIT_MS)
    assert panel.state == "waiting"


def test_a_deleted_item_leaves_the_counts(
    qtbot: QtBot, panel: ActivityPanel, library: Library, photo_dir: Path
) -> None:
    ids = photos(library, photo_dir, 3)
    panel.refresh()
    qtbot.waitUntil(lambda: panel.progress_label.text().startswith("0 of 3 items"), timeout=WAIT_MS)
    library.remove_items([ids[0]])
    panel.apply_changes(Changes.of_items([ids[0]], listing=True, counts=True))
    qtbot.waitUntil(lambda: panel.progress_label.text().startswith("0 of 2 items"), timeout=WAIT_MS)


def test_no_model_offers_one_by_its_name_and_size(
    qtbot: QtBot, panel: ActivityPanel, library: Library, photo_dir: Path
) -> None:
    photos(library, photo_dir, 2)
    qtbot.waitUntil(panel.download_model_button.isEnabled, timeout=WAIT_MS)  # catalog read
    panel.handle_worker_event(NO_MODEL)

    assert panel.status.text() == "No captioning model yet"
    assert "`captionist" not in panel.status.text()
    assert panel.body.currentWidget() is panel.no_model_card
    assert panel.download_model_button.isVisible() and panel.own_model_button.isVisible()
    offered = panel.download_model_button.text().replace("\n", " — ")  # 2 lines if narrow
    assert offered == "Download SmolVLM2 500M Video — 546 MB"
    assert panel.own_model_button.text() == "Use my own model files…"

    with qtbot.waitSignal(panel.download_requested) as asked:
        panel.download_model_button.click()
    assert asked.args == ["smolvlm2-500m"]
    with qtbot.waitSignal(panel.choose_model_requested):
        panel.own_model_button.click()

    # The raw reason is behind Details, not in the headline.
    assert panel.details_button.isVisible()
    panel.details_button.click()
    assert panel.body.currentWidget() is panel.detail_text
    assert "captionist models download" in panel.detail_text.text()
    panel.details_button.click()
    assert panel.body.currentWidget() is panel.no_model_card

    # While the model downloads, the button says so; a model loaded ends the card.
    bridge = DownloadBridgeDouble()
    panel.attach_download(bridge)
    bridge.progress.emit("smolvlm2-500m", 10, 100, 1.0, 90.0)
    assert panel.download_model_button.text() == "Downloading…"
    assert not panel.download_model_button.isEnabled()
    bridge.finished.emit("smolvlm2-500m")
    assert panel.download_model_button.isEnabled()
    panel.handle_worker_event(Started(job=1, item=1, kind="photo"))
    assert panel.body.currentWidget() is not panel.no_model_card
    assert not panel.details_button.isVisible()


def _geometry(panel: ActivityPanel) -> tuple[QRect, QRect, QRect, int]:
    """Where the buttons and the bar are in the panel, and how tall it wants to be."""

    def placed(widget: QWidget) -> QRect:
        return QRect(widget.mapTo(panel, QPoint(0, 0)), widget.size())

    return (
        placed(panel.pause_button),
        placed(panel.cancel_button),
        placed(panel.progress),
        panel.sizeHint().height(),
    )


def test_buttons_stay_still_in_every_state(
    qtbot: QtBot, panel: ActivityPanel, library: Library, photo_dir: Path
) -> None:
    ids = photos(library, photo_dir, 3)
    bridge = DownloadBridgeDouble()
    panel.attach_download(bridge)
    panel.refresh()
    qtbot.waitUntil(lambda: "of 3 items" in panel.progress_label.text(), timeout=WAIT_MS)
    first = _geometry(panel)
    seen = {"starting": first}

    def settle(name: str) -> None:
        qtbot.wait(50)
        seen[name] = _geometry(panel)

    panel.handle_worker_event(NO_MODEL)
    settle("no model")
    panel.details_button.click()
    settle("no model, details shown")
    panel.details_button.click()
    panel.handle_worker_event(Started(job=1, item=ids[0], kind="photo"))
    panel.handle_worker_event(Progress(done=1, total=3, per_minute=2.0, eta_seconds=60.0))
    settle("working")
    fail(library.jobs, "the model ran out of memory")
    panel.handle_worker_event(Idle())
    qtbot.waitUntil(panel.failed.wants_space, timeout=WAIT_MS)
    settle("idle with a failure")
    bridge.progress.emit("smolvlm2-500m", 10, 100, 1.0, 90.0)
    settle("downloading")
    bridge.failed.emit("smolvlm2-500m", "The disk is full")
    settle("download failed")
    panel.show_warning("A long warning that wraps over more than one line " * 4)
    settle("a long note")
    panel.handle_worker_event(Paused())
    settle("paused")

    for state, geometry in seen.items():
        assert geometry == first, state
