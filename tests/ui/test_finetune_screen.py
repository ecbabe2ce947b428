"""The "Fine-tune on my corrections" screen, offscreen, over real libraries: the table from
real corrections (with thumbnails), Include persisted, refusals with their reasons, a run's
steps, curve and results, Cancel, closing mid-run, and "Activate anyway".

Runs are driven either by the real `finetune --json` (the tiny SmolVLM fixture, trained for
real) or, where the point is the screen's handling of an event, by the contract's event
double (tests/services/finetune_event_double.py), named as such in each test."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QPushButton
from pytestqt.exceptions import TimeoutError as WaitTimeout
from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from app.core.finetune.adapters import AdapterRegistry
from app.core.finetune.corrections import list_training_corrections
from app.core.settings import Settings
from app.core.storage.db import Database
from app.services.finetune_bridge import FinetuneBridge, FinetuneRequest
from app.services.thumbnails import ThumbnailService
from app.ui.finetune.dialog import FinetuneDialog
from app.ui.finetune.table import INCLUDE, MODEL, THUMB, USE, USER
from models.catalog import load_catalog
from models.finetune.plan import training_plan
from tests.finetune_fixtures import (
    BASE_WEIGHTS,
    CORRECTIONS,
    FIXTURE,
    MODEL_ID,
    corrected_library,
    install_fixture_model,
)

DOUBLE = Path(__file__).parents[1] / "services" / "finetune_event_double.py"
WAIT = 20_000

Opener = Callable[..., FinetuneDialog]


@pytest.fixture
def open_screen(qtbot: QtBot, data_dir: DataDir) -> Iterator[Opener]:
    """Opens the screen over `data_dir`'s library (with its own database connection,
    thumbnail service and bridge, as the window would hand them over)."""
    opened: list[tuple[FinetuneDialog, Database, ThumbnailService]] = []

    def open_(bridge: FinetuneBridge | None = None) -> FinetuneDialog:
        db = Database(data_dir.database)
        thumbnails = ThumbnailService(data_dir.thumbnails / "gallery")
        dialog = FinetuneDialog(db, data_dir, bridge or FinetuneBridge(data_dir.root), thumbnails)
        qtbot.addWidget(dialog)
        dialog.show()
        opened.append((dialog, db, thumbnails))
        return dialog

    yield open_
    for dialog, db, thumbnails in opened:
        dialog.bridge.shutdown(5000)
        dialog.plan.installer.shutdown()
        thumbnails.shutdown(2000)
        dialog.background.wait(5000)
        dialog.hide()
        db.close()


def double(data_dir: DataDir, scenario: str, *, steps: int = 6, delay: float = 0.0,
           adapter: str = "m-v1") -> FinetuneBridge:  # fmt: skip
    """A bridge whose command is the contract's TEST DOUBLE, not the real CLI."""
    argv = [sys.executable, str(DOUBLE), scenario, str(steps), str(delay), adapter]
    return FinetuneBridge(data_dir.root, command=lambda _request: argv)


def click(qtbot: QtBot, button: QPushButton) -> None:
    """Click where the user sees the button, once the layout has put it there: a button
    just shown is placed by a deferred layout pass, and a click before that (a busy
    machine) lands on whatever was at that spot."""
    window = button.window()
    qtbot.waitUntil(
        lambda: window.childAt(button.mapTo(window, button.rect().center())) is button,
        timeout=WAIT,
    )
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def loaded(dialog: FinetuneDialog, rows: int) -> bool:
    return dialog.corrections.rowCount() == rows and "corrections:" in dialog.counts.text()


def planned(dialog: FinetuneDialog) -> bool:
    return dialog.plan._plan is not None  # noqa: SLF001


# -- the table ------------------------------------------------------------------------------
def test_table_fills_from_real_corrections(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, open_screen: Opener
) -> None:
    install_fixture_model(data_dir)
    items = corrected_library(data_dir, tmp_path / "photos")
    dialog = open_screen()
    qtbot.waitUntil(lambda: loaded(dialog, len(CORRECTIONS)), timeout=WAIT)
    model = dialog.corrections
    rows = {model.row_at(r).item_id: r for r in range(model.rowCount())}
    assert set(rows) == set(items.values())
    for name, item in items.items():
        row = rows[item]
        assert model.index(row, MODEL).data() == "zz qq"
        assert model.index(row, USER).data() == CORRECTIONS[name]
        assert model.index(row, INCLUDE).data(Qt.ItemDataRole.CheckStateRole) == (
            Qt.CheckState.Checked
        )
    # The held-out marks are the job's own split (the same function, same share).
    db = Database(data_dir.database)
    try:
        truth = {r.item_id: r.heldout for r in list_training_corrections(db, holdout=0.2)}
    finally:
        db.close()
    shown = {
        model.row_at(r).item_id: model.index(r, USE).data() == "Held out (scoring)"
        for r in range(model.rowCount())
    }
    assert shown == truth and any(truth.values()) and not all(truth.values())
    held = sum(truth.values())
    assert dialog.counts.text() == (
        f"5 corrections: {5 - held} to train on, {held} held out for scoring, 0 excluded"
    )
    assert dialog.tabs.tabText(0) == "Corrections (5)"
    # Real thumbnails, made by the thumbnail service off the GUI thread.
    qtbot.waitUntil(
        lambda: all(
            isinstance(model.index(r, THUMB).data(Qt.ItemDataRole.DecorationRole), QPixmap)
            for r in range(model.rowCount())
        ),
        timeout=WAIT,
    )
    pixmap = model.index(0, THUMB).data(Qt.ItemDataRole.DecorationRole)
    assert 0 < pixmap.width() <= 64 and 0 < pixmap.height() <= 64


def test_the_selected_correction_shows_the_words_that_changed(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, open_screen: Opener
) -> None:
    corrected_library(data_dir, tmp_path / "photos")
    dialog = open_screen()
    qtbot.waitUntil(lambda: loaded(dialog, len(CORRECTIONS)), timeout=WAIT)
    assert dialog.table.currentIndex().row() == 0  # the first is shown without a click
    dialog.table.selectRow(2)
    row = dialog.corrections.row_at(2)
    assert dialog.changes.row() == row
    text = dialog.changes.text()
    assert "<b>Model's caption:</b>" in text and "<b>Your caption:</b>" in text
    assert '<s style="color: ' in text and ">zz qq</s>" in text  # the model's words, struck
    assert f'font-weight: 600">{row.user_caption}</b>' in text  # the user's, added
    assert dialog.changes.isVisible()


def test_no_corrections_says_how_to_make_one(qtbot: QtBot, open_screen: Opener) -> None:
    dialog = open_screen()
    qtbot.waitUntil(lambda: dialog.counts.text().startswith("No corrections yet."), timeout=WAIT)
    assert "edit its caption in the details panel (F2) and save (Ctrl+S)" in dialog.counts.text()
    assert dialog.tabs.tabText(0) == "Corrections (0)"
    # Instead of a blank table, the page says it in the middle, with the next step.
    assert dialog.empty.isVisible() and dialog.empty.text() == dialog.counts.text()
    assert not dialog.table.isVisible() and not dialog.changes.isVisible()


def test_unticking_include_is_stored_and_survives_reopening(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, open_screen: Opener
) -> None:
    install_fixture_model(data_dir)
    items = corrected_library(data_dir, tmp_path / "photos")
    dialog = open_screen()
    qtbot.waitUntil(lambda: loaded(dialog, 5), timeout=WAIT)
    model = dialog.corrections
    row = next(r for r in range(5) if model.row_at(r).item_id == items["rocket"])
    assert model.setData(
        model.index(row, INCLUDE), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole
    )
    assert model.index(row, USE).data() == "Excluded"  # at once, before the write lands
    qtbot.waitUntil(lambda: "1 excluded" in dialog.counts.text(), timeout=WAIT)

    db = Database(data_dir.database)
    try:
        stored = {r.item_id: r.excluded for r in list_training_corrections(db)}
    finally:
        db.close()
    assert stored[items["rocket"]] and sum(stored.values()) == 1

    again = open_screen()
    qtbot.waitUntil(lambda: loaded(again, 5), timeout=WAIT)
    shown = {
        again.corrections.row_at(r).item_id: again.corrections.index(r, INCLUDE).data(
            Qt.ItemDataRole.CheckStateRole
        )
        for r in range(5)
    }
    assert shown[items["rocket"]] == Qt.CheckState.Unchecked
    assert sum(state == Qt.CheckState.Checked for state in shown.values()) == 4


# -- refusals -------------------------------------------------------------------------------
def test_no_model_refuses_with_the_reason(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, open_screen: Opener
) -> None:
    corrected_library(data_dir, tmp_path / "photos")  # its active model is not downloaded
    dialog = open_screen()
    qtbot.waitUntil(lambda: planned(dialog), timeout=WAIT)
    assert not dialog.plan.start_button.isEnabled()
    assert dialog.plan.reason.text() == (
        "The model 'smolvlm2-256m' is not installed (download it first)."
    )
    assert dialog.plan.reason.isVisible()
    assert dialog.plan.start_button.toolTip() == dialog.plan.reason.text()


def plan_refusal(examples: int, model_id: str = MODEL_ID, repo: str | None = "") -> str | None:
    """What the planner itself says for this case (the screen must show exactly that)."""
    entry = load_catalog().get(model_id)
    base = entry.base_weights_repo if entry and repo == "" else repo
    plan = training_plan(model_id, base_weights_repo=base, examples=examples, epochs=3, rank=64)
    return plan.refusal


def test_too_few_corrections_refuses_and_excluding_updates_it(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, open_screen: Opener
) -> None:
    install_fixture_model(data_dir)
    corrected_library(data_dir, tmp_path / "photos")
    dialog = open_screen()
    dialog.plan.holdout.setValue(0)  # all five train
    qtbot.waitUntil(lambda: dialog.counts.text().startswith("5 corrections: 5 to train on"),
                    timeout=WAIT)  # fmt: skip
    qtbot.waitUntil(lambda: planned(dialog) and dialog.plan.start_button.isEnabled(), timeout=WAIT)
    assert dialog.plan.method_label.text().startswith("LoRA")
    assert "GB needed" in dialog.plan.memory_label.text()
    model = dialog.corrections
    for row in (0, 1):
        model.setData(model.index(row, INCLUDE), Qt.CheckState.Unchecked.value,
                      Qt.ItemDataRole.CheckStateRole)  # fmt: skip
    qtbot.waitUntil(lambda: "2 excluded" in dialog.counts.text(), timeout=WAIT)
    qtbot.waitUntil(lambda: planned(dialog) and dialog.plan.reason.isVisible(), timeout=WAIT)
    expected = plan_refusal(3)
    assert expected and "4" in expected
    assert dialog.plan.reason.text() == expected
    assert not dialog.plan.start_button.isEnabled()


def test_custom_model_refuses_with_the_reason(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, open_screen: Opener
) -> None:
    corrected_library(data_dir, tmp_path / "photos")
    db = Database(data_dir.database)
    settings = Settings(db)
    settings.set("custom_model_path", str(FIXTURE / "model.gguf"))
    settings.set("custom_mmproj_path", str(FIXTURE / "mmproj.gguf"))
    db.close()
    dialog = open_screen()
    qtbot.waitUntil(lambda: planned(dialog), timeout=WAIT)
    assert dialog.plan.model_label.text() == "<b>Model:</b> your own model (model.gguf)"
    expected = plan_refusal(4, "custom:model", None)
    assert expected and "custom" in expected
    assert dialog.plan.reason.text() == expected
    assert not dialog.plan.start_button.isEnabled()


# -- closing during a run ---------------------------------------------------------------------
@pytest.mark.parametrize("choice", ["keep", "cancel", "stay"])
def test_closing_mid_run_asks(
    qtbot: QtBot,
    data_dir: DataDir,
    tmp_path: Path,
    open_screen: Opener,
    monkeypatch: pytest.MonkeyPatch,
    choice: str,
) -> None:
    corrected_library(data_dir, tmp_path / "photos")
    bridge = double(data_dir, "slow", delay=0.02)  # the event double: a run that lasts
    dialog = open_screen(bridge)
    bridge.start(FinetuneRequest())
    qtbot.waitUntil(lambda: len(dialog.progress.curve.points()) >= 2, timeout=WAIT)
    asked: list[bool] = []
    monkeypatch.setattr(dialog, "close_choice", lambda: asked.append(True) or choice)
    dialog.reject()
    assert asked == [True]
    if choice == "keep":
        assert not dialog.isVisible() and bridge.running()
        bridge.cancel()
    elif choice == "stay":
        assert dialog.isVisible() and bridge.running()
        bridge.cancel()
    else:
        assert not dialog.isVisible()
    qtbot.waitUntil(lambda: not bridge.running(), timeout=WAIT)
    assert bridge.last_outcome == "cancelled"


# -- a run (event double: the screen's handling of each event) -------------------------------
def test_run_shows_steps_curve_and_results(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, open_screen: Opener
) -> None:
    items = corrected_library(data_dir, tmp_path / "photos")
    # The double scores example "item-1": shown by its file name if it is in the table.
    name = next((f"{n}.jpg" for n, item in items.items() if item == 1), "item-1")
    bridge = double(data_dir, "ok", steps=6)  # the contract's event double
    dialog = open_screen(bridge)
    qtbot.waitUntil(lambda: loaded(dialog, 5), timeout=WAIT)
    bridge.start(dialog.request())
    assert dialog.tabs.currentIndex() == 1  # Training
    assert dialog.plan.cancel_button.isVisible() and not dialog.plan.start_button.isEnabled()
    qtbot.waitUntil(lambda: bridge.last_outcome is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: len(dialog.progress.curve.points()) == 6, timeout=WAIT)
    assert dialog.progress.curve.points()[-1] == (6, pytest.approx(0.5))
    assert dialog.progress.numbers.text() == "6 steps over 3 epochs · final loss 0.500"
    assert dialog.progress.outcome.text().startswith("Fine-tune finished in ")
    metrics = dialog.results.metrics
    assert [metrics.item(0, c).text() for c in range(3)] == ["0.300", "0.900", "+0.600"]
    assert metrics.verticalHeaderItem(0).text() == "CIDEr"
    samples = dialog.results.samples
    assert samples.rowCount() == 1
    assert [samples.item(0, c).text() for c in range(4)] == [name, "a cat", "a dog", "a cat"]
    assert dialog.results.isVisible()
    assert "m-v1 is active" in dialog.results.status.text()
    assert not dialog.results.activate_button.isVisible()
    assert not dialog.plan.cancel_button.isVisible()


def test_cancel_says_nothing_was_saved(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, open_screen: Opener
) -> None:
    corrected_library(data_dir, tmp_path / "photos")
    bridge = double(data_dir, "slow", delay=0.02)  # the event double, stepping until stopped
    dialog = open_screen(bridge)
    bridge.start(dialog.request())
    qtbot.waitUntil(lambda: len(dialog.progress.curve.points()) >= 3, timeout=WAIT)
    assert not dialog.plan.holdout.isEnabled()  # options are fixed while it runs
    assert re.fullmatch(
        r"Step \d+ of 1000000000 · epoch 1 of 3 · loss \d\.\d{3} · about .+ left",
        dialog.progress.numbers.text(),
    )
    click(qtbot, dialog.plan.cancel_button)
    qtbot.waitUntil(lambda: bridge.last_outcome == "cancelled", timeout=5000)
    assert dialog.progress.phase.text() == "Cancelled"
    assert "Nothing was saved" in dialog.progress.outcome.text()
    assert not dialog.plan.cancel_button.isVisible() and dialog.plan.holdout.isEnabled()


def test_a_failed_run_shows_why(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, open_screen: Opener
) -> None:
    corrected_library(data_dir, tmp_path / "photos")
    bridge = double(data_dir, "error")  # the event double's error event
    dialog = open_screen(bridge)
    bridge.start(dialog.request())
    qtbot.waitUntil(lambda: bridge.last_outcome == "failed", timeout=WAIT)
    assert dialog.progress.phase.text() == "Stopped"
    assert dialog.progress.outcome.text() == "only 2 corrections can be trained on"
    assert not dialog.results.isVisible()


def test_reopened_mid_run_shows_the_run_so_far(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, open_screen: Opener
) -> None:
    corrected_library(data_dir, tmp_path / "photos")
    bridge = double(data_dir, "slow", delay=0.02)  # the event double
    first = open_screen(bridge)
    bridge.start(first.request())
    qtbot.waitUntil(lambda: len(first.progress.curve.points()) >= 5, timeout=WAIT)
    again = open_screen(bridge)  # the screen kept running in the background, reopened
    assert len(again.progress.curve.points()) >= 5
    assert again.tabs.currentIndex() == 1 and again.plan.cancel_button.isVisible()
    bridge.cancel()
    qtbot.waitUntil(lambda: not bridge.running(), timeout=WAIT)


# -- the real thing ---------------------------------------------------------------------------
REAL_WAIT = 900_000  # training, export, llama.cpp check and scoring of the tiny model


@pytest.mark.slow
def test_real_run_then_activate_anyway_and_roll_back(
    qtbot: QtBot, data_dir: DataDir, tmp_path: Path, open_screen: Opener
) -> None:
    """Start on the screen runs the real `finetune --json` on the tiny SmolVLM (no
    download: its original weights are on disk); the screen shows the real steps, curve,
    scores and held-out captions, and the adapter lands in the Adapters tab. Then a second
    registered version that scored worse (the same real adapter file) is refused by the job
    and switched on with "Activate anyway", and Roll back returns to the first."""
    install_fixture_model(data_dir)
    items = corrected_library(data_dir, tmp_path / "photos")
    dialog = open_screen()
    dialog.request_defaults = {"base_weights": BASE_WEIGHTS}
    dialog.plan.set_options(0.2, 6, 8)  # the fixture's settings: small and quick
    qtbot.waitUntil(lambda: loaded(dialog, 5), timeout=WAIT)
    qtbot.waitUntil(lambda: dialog.plan.start_button.isEnabled(), timeout=WAIT)
    click(qtbot, dialog.plan.start_button)
    assert dialog.bridge.running() and dialog.tabs.currentIndex() == 1
    qtbot.waitUntil(lambda: dialog.bridge.last_outcome is not None, timeout=REAL_WAIT)
    assert dialog.bridge.last_outcome == "succeeded", dialog.progress.outcome.text()

    events = [e.to_dict() for e in dialog.bridge.history()]  # as `finetune --json` printed
    steps = [e for e in events if e["event"] == "step"]
    qtbot.waitUntil(lambda: len(dialog.progress.curve.points()) == len(steps), timeout=WAIT)
    assert steps and steps[-1]["step"] == steps[-1]["total_steps"]
    assert dialog.progress.curve.points() == [(e["step"], pytest.approx(e["loss"])) for e in steps]
    assert dialog.progress.numbers.text() == (
        f"{steps[-1]['step']} steps over 6 epochs · final loss {steps[-1]['loss']:.3f}"
    )
    (done,) = [e for e in events if e["event"] == "done"]
    metrics = dialog.results.metrics
    for row, key in enumerate(("cider", "rouge_l", "bleu4")):
        assert metrics.item(row, 0).text() == f"{done['metrics_before'][key]:.3f}"
        assert metrics.item(row, 1).text() == f"{done['metrics_after'][key]:.3f}"
    after = next(e for e in events if e["event"] == "evaluated" and e["which"] == "after")
    samples = dialog.results.samples
    assert samples.rowCount() == len(after["samples"]) >= 1
    names = {f"item-{item}": f"{name}.jpg" for name, item in items.items()}
    for row, sample in enumerate(after["samples"]):
        assert samples.item(row, 0).text() == names[sample["id"]]
        assert samples.item(row, 1).text() == sample["reference"]
        assert samples.item(row, 3).text() == sample["candidate"]
    (registered,) = [e for e in events if e["event"] == "registered"]
    first = registered["adapter"]["id"]
    activated = any(e["event"] == "activated" for e in events)
    assert ("is active" in dialog.results.status.text()) == activated
    assert dialog.results.activate_button.isVisible() == (not activated)

    db = Database(data_dir.database)
    registry = AdapterRegistry(db)

    def active() -> str | None:
        # A plain read: the registry's own reads take the write lock, and polling them
        # every few ms would starve the screen's write that is being waited for.
        with db.read() as conn:
            return conn.exec_driver_sql(
                "SELECT id FROM adapters WHERE model_id = ? AND active", (MODEL_ID,)
            ).scalar()

    if not activated:  # the real adapter scored worse: the user insists
        click(qtbot, dialog.results.activate_button)
        qtbot.waitUntil(lambda: active() is not None, timeout=WAIT)
    assert active() == first
    adapters = dialog.adapters
    qtbot.waitUntil(
        lambda: adapters.table.rowCount() == 1 and adapters.table.item(0, 5).text() == "Active",
        timeout=WAIT,
    )

    # A second version of the same real file that scored worse than no adapter.
    record = registry.get(first)
    assert record is not None
    worse = f"{MODEL_ID}-v2"
    registry.register(
        adapter_id=worse, version=2, model_id=MODEL_ID, gguf_path=Path(record.gguf_path),
        base_gguf=Path(record.base_gguf), method="lora", settings={}, corrections_used=4,
        heldout_count=1, metrics_before={"bleu4": 0.2, "rouge_l": 0.3, "cider": 0.4},
        metrics_after={"bleu4": 0.1, "rouge_l": 0.2, "cider": 0.1},
    )  # fmt: skip
    # The job's refusal of it arrives as the contract's event DOUBLE ("not_activated").
    screen = open_screen(double(data_dir, "worse", steps=2, adapter=worse))
    screen.bridge.start(screen.request())
    qtbot.waitUntil(lambda: screen.results.activate_button.isVisible(), timeout=WAIT)
    assert screen.results.status.text() == (
        f"Adapter {worse} was saved but not activated: it scores worse "
        "(CIDEr 0.300 → 0.100). Captions stay as they were."
    )
    click(qtbot, screen.results.activate_button)
    try:
        qtbot.waitUntil(lambda: active() == worse, timeout=WAIT)
    except WaitTimeout as exc:  # say what the screen said (a refusal, a locked database…)
        raise AssertionError(
            f"not activated; results: {screen.results.status.text()!r}, "
            f"adapters: {screen.adapters.message.text()!r}, active: {active()!r}"
        ) from exc
    qtbot.waitUntil(lambda: "is active" in screen.results.status.text(), timeout=WAIT)
    assert not screen.results.activate_button.isVisible()

    panel = screen.adapters
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=WAIT)
    qtbot.waitUntil(lambda: panel.rollback_button.isEnabled(), timeout=WAIT)
    panel.rollback_button.click()
    qtbot.waitUntil(lambda: active() == first, timeout=WAIT)
    qtbot.waitUntil(lambda: panel.message.text().startswith("Rolled back"), timeout=WAIT)
    assert panel.message.text() == f"Rolled back: {first} is active again."
    qtbot.waitUntil(lambda: panel.deactivate_button.isEnabled(), timeout=WAIT)
    panel.deactivate_button.click()
    qtbot.waitUntil(lambda: active() is None, timeout=WAIT)
    qtbot.waitUntil(
        lambda: all(panel.table.item(r, 5).text() == "" for r in range(2)), timeout=WAIT
    )
    db.close()
