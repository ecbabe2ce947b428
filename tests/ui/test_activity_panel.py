"""The activity panel offscreen on a real library: real photos scanned into a real
SQLite database, worker events in the shape the caption worker emits them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage, QPixmap
from pytestqt.qtbot import QtBot

from app.core.captioning.events import (
    AdapterFailed,
    Crashed,
    Failed,
    Fatal,
    Idle,
    ModelLoaded,
    Paused,
    Progress,
    Recovered,
    Started,
)
from app.core.jobs import JobQueue
from app.core.library.library import Library
from app.core.queue_status import QueueActions
from app.core.settings import Settings
from app.core.storage.db import Database
from app.ui.activity.panel import ActivityPanel
from tests.media_factory import write_photo

WAIT_MS = 5000


class DownloadBridgeDouble(QObject):
    """A test double with DownloadBridge's signals and cancel()."""

    progress = Signal(str, "qint64", "qint64", float, object)
    finished = Signal(str)
    failed = Signal(str, str)

    def __init__(self) -> None:
        super().__init__()
        self.cancel_calls = 0

    def cancel(self) -> None:
        self.cancel_calls += 1


@pytest.fixture
def panel(qtbot: QtBot, db: Database) -> Iterator[ActivityPanel]:
    widget = ActivityPanel(QueueActions(db))
    qtbot.addWidget(widget)
    widget.resize(340, 600)
    widget.show()
    yield widget
    widget.shutdown()


def scan(library: Library, folder: Path) -> dict[str, int]:
    root = library.add_root(folder)
    library.scan(root.id)
    with library.db.read() as conn:
        return dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())


def job_states(db: Database) -> dict[int, list[str]]:
    with db.read() as conn:
        rows = conn.exec_driver_sql("SELECT item_id, state FROM jobs ORDER BY id").all()
    states: dict[int, list[str]] = {}
    for item_id, state in rows:
        states.setdefault(item_id, []).append(state)
    return states


def fail(jobs: JobQueue, error: str) -> Failed:
    """Fail the next job as the worker does; returns the worker's event for it."""
    job = jobs.claim_next()
    assert job is not None
    jobs.finish(job.id, error=error)
    return Failed(job.id, job.item_id, error)


def test_progress_and_the_current_item_with_its_thumbnail(
    qtbot: QtBot, panel: ActivityPanel, library: Library, photo_dir: Path
) -> None:
    write_photo(photo_dir / "Summer 2024" / "astronaut.jpg")
    ids = scan(library, photo_dir)
    item = ids["astronaut.jpg"]
    assert panel.current_box.isHidden()
    panel.refresh()
    qtbot.waitUntil(
        lambda: panel.progress_label.text() == "0 of 1 item captioned · 1 waiting",
        timeout=WAIT_MS,
    )

    with qtbot.waitSignal(panel.current_item_changed, timeout=WAIT_MS) as changed:
        panel.handle_worker_event(Started(job=1, item=item, kind="photo"))
    assert changed.args == [item]
    assert panel.status.text() == "Captioning…"
    assert panel.current_box.isVisible()
    assert panel.thumbnail.property("placeholder") is True
    qtbot.waitUntil(lambda: panel.current_name.full_text() == "astronaut.jpg", timeout=WAIT_MS)
    assert panel.current_folder.full_text().endswith("Summer 2024")

    photo = QPixmap.fromImage(QImage(str(photo_dir / "Summer 2024" / "astronaut.jpg")))
    panel.set_current_thumbnail(item + 1, photo)  # a late answer for another item
    assert panel.thumbnail.property("placeholder") is True
    panel.set_current_thumbnail(item, photo)
    assert panel.thumbnail.property("placeholder") is False
    shown = panel.thumbnail.pixmap()
    assert max(shown.width(), shown.height()) / shown.devicePixelRatio() <= 56

    # The worker's own tallies give the rate and the time left; what is done is the
    # library's: one item, none captioned yet.
    panel.handle_worker_event(Progress(done=12, total=340, per_minute=18.4, eta_seconds=1190.0))
    assert panel.progress_label.text() == (
        "0 of 1 item captioned · 1 waiting · 18/min · about 20 min left"
    )
    assert (panel.progress.value(), panel.progress.maximum()) == (0, 1)
    assert panel.cancel_button.isEnabled()

    panel.handle_worker_event(Progress(done=1, total=2, per_minute=2.5, eta_seconds=None))
    assert panel.progress_label.text() == "0 of 1 item captioned · 1 waiting · 2.5/min"


def test_worker_states_are_named(qtbot: QtBot, panel: ActivityPanel) -> None:
    panel.handle_worker_event(
        Fatal(error="no captioning model is installed; download one in Settings", reason="no_model")
    )
    assert panel.status.text() == "No captioning model yet"
    assert panel.status.property("tone") == "busy"

    panel.handle_worker_event(Paused())
    assert panel.status.text() == "Paused"
    assert panel.pause_button.text() == "Resume" and panel.pause_button.isChecked()

    panel.handle_worker_event(Started(job=5, item=7, kind="video"))
    panel.handle_worker_event(Crashed(exit_code=-11, restart_in=2.0))
    assert panel.status.text() == "The caption engine stopped unexpectedly; restarting in 2 s…"
    assert panel.current_box.isHidden() and panel.current_item_id is None
    panel.handle_worker_event(Recovered(requeued=3, failed=1))
    assert panel.note.text() == (
        "Restarted: 3 items back in the queue, "
        "1 skipped after crashing the engine (in safe mode too)"
    )

    panel.handle_worker_event(
        ModelLoaded(model="smolvlm2-256m", adapter=None, seconds=1.25, gpu_layers=0)
    )
    assert panel.status.text() == "Model ready: SmolVLM2 256M Video (loaded in 1.2 s)"
    panel.handle_worker_event(
        AdapterFailed(
            model="smolvlm2-256m",
            adapter="smolvlm2-256m-v2",
            error="the LoRA adapter file is cut off",
        )
    )
    assert panel.note.text() == (
        "Your fine-tuned adapter smolvlm2-256m-v2 could not be loaded; captioning without it"
    )
    assert panel.note.toolTip() == "the LoRA adapter file is cut off"
    panel.handle_worker_event(
        ModelLoaded(model="smolvlm2-256m", adapter="smolvlm2-256m-v1", seconds=1.0, gpu_layers=0)
    )
    assert panel.status.text() == (
        "Model ready: SmolVLM2 256M Video with your adapter smolvlm2-256m-v1 (loaded in 1.0 s)"
    )

    # An empty library is not "All captioned".
    panel.handle_worker_event(Idle())
    qtbot.waitUntil(lambda: panel.status.text() == "Nothing to caption yet", timeout=WAIT_MS)
    assert panel.status.property("tone") == "muted"
    assert panel.progress_label.text() == "No photos or videos yet"


def test_pause_and_resume_are_stored_in_the_library(
    qtbot: QtBot, panel: ActivityPanel, db: Database
) -> None:
    settings = Settings(db)
    assert settings.read().queue_paused is False
    requested: list[bool] = []
    panel.pause_requested.connect(requested.append)

    with qtbot.waitSignal(panel.queue_changed, timeout=WAIT_MS):
        panel.pause_button.click()
    assert settings.read().queue_paused is True
    assert panel.pause_button.text() == "Resume"

    with qtbot.waitSignal(panel.queue_changed, timeout=WAIT_MS):
        panel.pause_button.click()
    assert settings.read().queue_paused is False
    assert requested == [True, False]
    assert panel.pause_button.text() == "Pause"


def test_a_pause_set_elsewhere_shows_when_the_panel_opens(qtbot: QtBot, db: Database) -> None:
    Settings(db).set("queue_paused", True)
    widget = ActivityPanel(QueueActions(db))
    qtbot.addWidget(widget)
    try:
        qtbot.waitUntil(lambda: widget.pause_button.text() == "Resume", timeout=WAIT_MS)
        assert widget.status.text() == "Nothing to caption yet"  # the button says paused
    finally:
        widget.shutdown()


def test_cancel_all_needs_a_second_click_then_cancels_the_queue(
    qtbot: QtBot, panel: ActivityPanel, library: Library, photo_dir: Path
) -> None:
    for name in ("astronaut", "coffee", "chelsea"):
        write_photo(photo_dir / f"{name}.jpg", name, size=(64, 48))
    scan(library, photo_dir)
    panel.refresh()
    qtbot.waitUntil(
        lambda: panel.progress_label.text() == "0 of 3 items captioned · 3 waiting",
        timeout=WAIT_MS,
    )
    assert panel.cancel_button.isEnabled()
    running = library.jobs.claim_next()
    assert running is not None
    cancels: list[bool] = []
    panel.cancel_requested.connect(lambda: cancels.append(True))

    panel.cancel_button.click()
    assert panel.cancel_button.text() == "Click to confirm"
    assert library.jobs.counts() == {"queued": 2, "running": 1}  # nothing happened yet
    with qtbot.waitSignal(panel.queue_changed, timeout=WAIT_MS):
        panel.cancel_button.click()

    assert cancels == [True]
    assert library.jobs.counts() == {"cancelled": 3}
    assert panel.cancel_button.text() == "Cancel all"
    qtbot.waitUntil(lambda: panel.note.text() == "Cancelled 3 caption jobs", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not panel.cancel_button.isEnabled(), timeout=WAIT_MS)


def test_failed_items_are_listed_with_reasons_and_retry_requeues_them(
    qtbot: QtBot, panel: ActivityPanel, library: Library, photo_dir: Path
) -> None:
    write_photo(photo_dir / "astronaut.jpg", size=(64, 64))
    write_photo(photo_dir / "coffee.jpg", "coffee", size=(64, 64))
    write_photo(photo_dir / "rocket.jpg", "rocket", size=(64, 64))
    (photo_dir / "notes.jpg").write_text("Shopping list: eggs, milk, film.\n")
    ids = scan(library, photo_dir)
    assert not panel.failed.wants_space()
    panel.refresh()  # the window does this after a scan
    qtbot.waitUntil(panel.failed.wants_space, timeout=WAIT_MS)  # notes.jpg
    assert panel.lower_area.currentWidget() is panel.failed and panel.failed.isVisible()
    assert panel.failed.list.count() == 1
    assert panel.failed.list.item(0).text() == "notes.jpg\nCan't read the file"

    first = fail(library.jobs, "the model ran out of memory")
    second = fail(library.jobs, "the answer was not valid JSON")
    panel.handle_worker_event(first)
    panel.handle_worker_event(second)  # one refresh for the burst

    qtbot.waitUntil(lambda: panel.failed.list.count() == 3, timeout=WAIT_MS)
    rows = [panel.failed.list.item(i).text() for i in range(3)]
    by_id = {v: k for k, v in ids.items()}
    assert rows[:2] == [
        f"{by_id[second.item]}\nThe model's answer could not be used. Retry it; the next "  # type: ignore[index]
        "answer is often fine.",
        f"{by_id[first.item]}\nThe model ran out of memory on this photo. Close other "  # type: ignore[index]
        "programs and retry.",
    ]
    assert panel.failed.list.item(1).toolTip().endswith("the model ran out of memory")
    assert panel.failed.header.text().startswith("<b>Failed (3)</b>")
    assert not panel.failed.retry_button.isEnabled()

    panel.failed.list.item(0).setSelected(True)
    assert panel.failed.retry_button.isEnabled()
    with qtbot.waitSignal(panel.queue_changed, timeout=WAIT_MS):
        panel.failed.retry_button.click()
    assert job_states(library.db)[second.item] == ["failed", "queued"]  # type: ignore[index]
    assert job_states(library.db)[first.item] == ["failed"]  # type: ignore[index]
    qtbot.waitUntil(lambda: panel.failed.list.count() == 2, timeout=WAIT_MS)
    assert panel.note.text() == "Queued 1 item again"

    with qtbot.waitSignal(panel.queue_changed, timeout=WAIT_MS):
        panel.failed.retry_all_button.click()
    assert job_states(library.db)[first.item] == ["failed", "queued"]  # type: ignore[index]
    qtbot.waitUntil(
        lambda: panel.note.text() == "Queued 1 item again; 1 still can't be read",
        timeout=WAIT_MS,
    )
    qtbot.waitUntil(lambda: panel.failed.list.count() == 1, timeout=WAIT_MS)
    assert panel.failed.list.item(0).text().startswith("notes.jpg")


def test_download_section_shows_progress_and_hides_when_done(
    qtbot: QtBot, panel: ActivityPanel
) -> None:
    bridge = DownloadBridgeDouble()
    panel.attach_download(bridge)
    section = panel.download
    assert not section.wants_space() and not section.isVisible()

    bridge.progress.emit("qwen2.5-vl-3b", 120_000_000, 480_000_000, 8_100_000.0, 44.6)
    assert section.wants_space() and section.isVisible()
    assert section.title.full_text() == "Downloading Qwen2.5-VL 3B"
    assert section.label.text() == "120 MB of 480 MB · 8.1 MB/s · about 45 s left"
    assert section.bar.value() * 4 == section.bar.maximum()

    bridge.progress.emit("qwen2.5-vl-3b", 2_500_000_000, 3_200_000_000, 950_000.0, None)
    assert section.label.text() == "2.5 GB of 3.2 GB · 950 KB/s"

    bridge.finished.emit("qwen2.5-vl-3b")
    assert not section.wants_space() and not section.isVisible()
    assert panel.note.text() == "Downloaded Qwen2.5-VL 3B"


def test_download_cancel_and_failure(qtbot: QtBot, panel: ActivityPanel) -> None:
    bridge = DownloadBridgeDouble()
    panel.attach_download(bridge)
    section = panel.download
    bridge.progress.emit("smolvlm-256m", 1_000, 0, 0.0, None)  # size not known yet
    assert section.wants_space() and section.bar.maximum() == 0
    assert section.label.text() == "1 KB"

    section.cancel_button.click()
    assert bridge.cancel_calls == 1
    assert section.label.text() == "Cancelling…"
    bridge.failed.emit("smolvlm-256m", "cancelled")
    assert not section.wants_space()
    assert panel.note.text() == "Download of smolvlm-256m cancelled"

    # A failure: a sentence naming the model by its display name, the detail under it.
    bridge.progress.emit("smolvlm2-500m", 10, 100, 1.0, 90.0)
    bridge.failed.emit("smolvlm2-500m", "The download stopped: the network is unreachable")
    assert section.wants_space() and section.isVisible()
    assert section.title.full_text() == (
        "SmolVLM2 500M Video could not be downloaded: no connection."
    )
    assert section.label.text() == "The download stopped: the network is unreachable"
    assert section.cancel_button.text() == "Dismiss"
    section.cancel_button.click()
    assert not section.wants_space()
    assert bridge.cancel_calls == 1


def test_a_long_name_is_shortened_to_fit_a_narrow_dock(
    qtbot: QtBot, panel: ActivityPanel, library: Library, photo_dir: Path
) -> None:
    name = "IMG_20240703_181502_a_very_long_descriptive_name_from_a_phone_export.jpg"
    write_photo(photo_dir / name, size=(32, 32))
    ids = scan(library, photo_dir)
    panel.resize(300, 600)

    panel.handle_worker_event(Started(job=1, item=ids[name], kind="photo"))

    qtbot.waitUntil(lambda: panel.current_name.full_text() == name, timeout=WAIT_MS)
    shown = panel.current_name.text()
    assert "…" in shown and shown.endswith(".jpg") and len(shown) < len(name)
    assert panel.current_name.toolTip() == name
    assert panel.width() <= 300


def test_settings_replaced_at_open_are_shown_as_a_warning(
    qtbot: QtBot, panel: ActivityPanel, db: Database
) -> None:
    """What the window does at open: the problems `Library` found go to the note line."""
    Settings(db).set("metadata_write", "embed")
    with db.write() as conn:  # a hand edit this version cannot read
        conn.exec_driver_sql("UPDATE settings SET value = '\"xmp\"' WHERE key = 'metadata_write'")
    problems = Library(db).settings.problems()

    panel.show_warning("\n".join(problem.message for problem in problems))

    assert "'metadata_write'" in panel.note.text() and "'xmp'" in panel.note.text()
    assert "'sidecar'" in panel.note.text()  # what it is now
    assert panel.note.isVisible() and panel.note.property("tone") == "warn"
