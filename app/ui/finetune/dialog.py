"""The "Fine-tune on my corrections" screen.

Three tabs (Corrections, Training, Adapters) beside a panel that says what training needs
on this machine, with the options and Start / Cancel. Reads go to the background pool and
come back as plain data (finetune_data); the run is the `finetune --json` command driven by
a `FinetuneBridge` that the window owns, so a run the user keeps going in the background
survives closing the screen, and reopening it shows the run again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QLabel,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.datadir import DataDir
from app.core.finetune.corrections import TrainingCorrection, set_excluded
from app.core.finetune.events import Done
from app.core.storage.db import Database
from app.services.background import Background
from app.services.finetune_bridge import FinetuneBridge, FinetuneRequest
from app.services.thumbnails import ThumbnailService
from app.ui.activity.widgets import duration_text
from app.ui.finetune import data
from app.ui.finetune.adapters import AdaptersPanel
from app.ui.finetune.plan import PlanPanel
from app.ui.finetune.progress import ProgressPanel
from app.ui.finetune.results import ResultsPanel
from app.ui.finetune.table import ChangesPane, CorrectionsModel, corrections_view
from app.ui.settings.common import error_style, note_label

RELOAD_DELAY_MS = 250  # a spin box being stepped reloads once, after the last step
INTRO = (
    "Teach the captioning model your wording: a small adapter is trained on the captions "
    "you corrected, on this computer. Some corrections are held out to score the model "
    "before and after; the adapter is used only if it does not score worse."
)
TABS = ("Corrections", "Training", "Adapters")


class FinetuneDialog(QDialog):
    adapters_changed = Signal()  # an adapter was made, activated or deactivated

    def __init__(
        self,
        db: Database,
        data_dir: DataDir,
        bridge: FinetuneBridge,
        thumbnails: ThumbnailService,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune on my corrections")
        self.setMinimumSize(980, 640)
        self.resize(1180, 760)
        self._db, self._data_dir, self.bridge = db, data_dir, bridge
        self.background = Background(self, threads=1)  # one lane: writes stay in order
        self._target: data.ModelTarget | None = None
        self._serial = 0  # drops a corrections read older than the newest change
        self._plan_serial = 0
        self._fresh_plan = False
        self._samples: dict[str, list[dict[str, Any]]] = {}
        self._started_at: float | None = None
        self._names: dict[str, str] = {}
        # Extra `finetune` options the screen has no control for (original weights already
        # on disk, a method forced): set by whoever opens the screen, e.g. a test.
        self.request_defaults: dict[str, Any] = {}
        self._build(thumbnails)
        self._wire()
        self._restore_options()
        self.reload()
        if bridge.running():
            self._attach_running()

    # -- layout -------------------------------------------------------------------------
    def _build(self, thumbnails: ThumbnailService) -> None:
        self.corrections = CorrectionsModel(thumbnails, self)
        self.table = corrections_view(self.corrections)
        self.counts = QLabel("Reading your corrections…")
        self.counts.setObjectName("counts_label")
        self.counts.setWordWrap(True)
        self.changes = ChangesPane()
        changes_scroll = QScrollArea()
        changes_scroll.setWidgetResizable(True)
        changes_scroll.setFrameShape(QFrame.Shape.NoFrame)
        changes_scroll.setWidget(self.changes)
        changes_scroll.setMinimumHeight(90)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        corrections_split = QSplitter(Qt.Orientation.Vertical)
        corrections_split.setChildrenCollapsible(False)
        corrections_split.addWidget(self.table)
        corrections_split.addWidget(changes_scroll)
        corrections_split.setStretchFactor(0, 1)
        corrections_split.setSizes([480, 140])
        self.empty = QLabel(data.NO_CORRECTIONS)  # instead of a blank table: the next step
        self.empty.setObjectName("no_corrections")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setMargin(40)
        self._corrections_stack = QStackedWidget()
        self._corrections_split = corrections_split
        self._corrections_stack.addWidget(corrections_split)
        self._corrections_stack.addWidget(self.empty)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        corrections_page = QWidget()
        page = QVBoxLayout(corrections_page)
        page.addWidget(self.counts)
        page.addWidget(self._corrections_stack, 1)
        page.addWidget(self.message)

        self.progress = ProgressPanel()
        self.results = ResultsPanel()
        self.results.setVisible(False)
        training_split = QSplitter(Qt.Orientation.Vertical)
        training_split.setChildrenCollapsible(False)
        training_split.addWidget(self.progress)
        training_split.addWidget(self.results)
        training_split.setSizes([320, 380])
        training_page = QWidget()
        QVBoxLayout(training_page).addWidget(training_split)
        self.adapters = AdaptersPanel(self._db, self.background)
        adapters_page = QWidget()
        QVBoxLayout(adapters_page).addWidget(self.adapters)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for widget, title in zip(
            (corrections_page, training_page, adapters_page), TABS, strict=True
        ):
            self.tabs.addTab(widget, title)

        self.plan = PlanPanel()
        split = QSplitter()
        split.setChildrenCollapsible(False)
        split.addWidget(self.tabs)
        split.addWidget(self.plan)
        split.setStretchFactor(0, 1)
        split.setSizes([820, 340])

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note_label(INTRO))
        layout.addWidget(split, 1)
        layout.addWidget(buttons)

    def _wire(self) -> None:
        self._reload_timer = QTimer(self, singleShot=True, interval=RELOAD_DELAY_MS)
        self._reload_timer.timeout.connect(self.reload_corrections)
        self._plan_timer = QTimer(self, singleShot=True, interval=RELOAD_DELAY_MS)
        self._plan_timer.timeout.connect(self.replan)
        self.corrections.exclusion_requested.connect(self._store_exclusion)
        self.plan.holdout_changed.connect(lambda _share: self._reload_timer.start())
        self.plan.options_changed.connect(self._plan_timer.start)
        self.plan.start_requested.connect(self.start)
        self.plan.cancel_requested.connect(self.cancel)
        self.plan.installed.connect(self._installed)
        self.plan.remove_requested.connect(self.remove_runtime)
        self.results.activate_anyway_requested.connect(self._activate_anyway)
        self.adapters.changed.connect(self.adapters_changed)
        self.adapters.activation_done.connect(self._activation_done)
        b = self.bridge
        b.started.connect(self._run_started)
        b.phase_changed.connect(self.progress.show_phase)
        b.download_progressed.connect(self.progress.show_download)
        b.step_reported.connect(self.progress.show_step)
        b.log_line.connect(self.progress.add_log)
        b.prepared.connect(self.progress.show_prepared)
        b.evaluated.connect(self._evaluated)
        b.trained.connect(self._trained)
        b.activation_decided.connect(self._activation_decided)
        b.registered.connect(lambda _record: self.adapters.reload())
        b.succeeded.connect(self._succeeded)
        b.failed.connect(self._failed)
        b.cancelled.connect(self._cancelled)

    # -- reading ------------------------------------------------------------------------
    def reload(self) -> None:
        """Everything: the model, the corrections, the plan, the install command."""
        db, data_dir = self._db, self._data_dir
        self.background.run(lambda: data.model_target(db, data_dir), self._show_target, self._error)
        self.background.run(
            lambda: data.install_command(data_dir), self.plan.set_install_command, lambda _e: None
        )
        self.reload_runtime()
        self.reload_corrections()

    def reload_corrections(self) -> None:
        self._serial += 1
        serial, db, holdout = self._serial, self._db, self.plan.options()[0]
        thumbs = self._data_dir.thumbnails / "gallery"
        self.background.run(
            lambda: (serial, data.load_corrections(db, holdout, thumbs)),
            self._show_corrections,
            self._error,
        )

    def _show_target(self, target: data.ModelTarget) -> None:
        self._target = target
        self.plan.set_model_name(target.name)
        self.adapters.set_model(target.model_id)
        self._plan_timer.start()

    def _show_corrections(self, loaded: tuple[int, list[TrainingCorrection]]) -> None:
        serial, rows = loaded
        if serial != self._serial:
            return  # a newer change is being read
        shown = self.changes.row()
        self.corrections.set_rows(rows)
        self.counts.setVisible(bool(rows))  # with none, the page says it (and what to do)
        self._corrections_stack.setCurrentWidget(self._corrections_split if rows else self.empty)
        if rows:  # the row the pane showed stays selected across a reload, else the first
            keys = [(row.item_id, row.keyframe_id) for row in rows]
            key = (shown.item_id, shown.keyframe_id) if shown else None
            keep = keys.index(key) if key in keys else 0
            self.table.selectRow(keep)
        else:
            self.changes.show_row(None)
        self._names = {row.example_id: Path(row.path).name for row in rows}
        counts = data.count(rows)
        self.counts.setText(counts.text())
        self.tabs.setTabText(0, f"Corrections ({counts.corrections})")
        self._plan_timer.start()

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        valid = current.isValid() and current.row() < self.corrections.rowCount()
        self.changes.show_row(self.corrections.row_at(current.row()) if valid else None)

    def replan(self) -> None:
        target = self._target
        if target is None:
            return
        self._plan_serial += 1
        serial, fresh, data_dir = self._plan_serial, self._fresh_plan, self._data_dir
        self._fresh_plan = False
        _holdout, epochs, rank = self.plan.options()
        examples = data.count(self.corrections.rows()).train_items
        self.plan.set_plan(None)
        self.background.run(
            lambda: (
                serial,
                data.training_plan_view(
                    target,
                    examples=examples,
                    epochs=epochs,
                    rank=rank,
                    fresh=fresh,
                    data_root=data_dir.root,
                ),
            ),
            self._show_plan,
            self._error,
        )

    def _show_plan(self, planned: tuple[int, data.PlanView]) -> None:
        serial, plan = planned
        if serial == self._plan_serial:
            self.plan.set_plan(plan)

    def _installed(self, ok: bool) -> None:
        if ok:
            self._fresh_plan = True
            self.replan()
            self.reload_runtime()

    def reload_runtime(self) -> None:
        """The packaged app's training components: installed or not, and their size."""
        data_dir = self._data_dir
        self.background.run(
            lambda: data.runtime_view(data_dir), self.plan.set_runtime, lambda _e: None
        )

    def remove_runtime(self) -> None:
        data_dir = self._data_dir
        self.plan.set_removing(True)

        def removed(message: str) -> None:
            self.plan.set_removing(False)
            self.plan.show_install_message(message)
            self._fresh_plan = True
            self.replan()
            self.reload_runtime()

        def failed(message: str) -> None:
            self.plan.set_removing(False)
            self._error(message)
            self.reload_runtime()

        self.background.run(lambda: data.remove_runtime(data_dir), removed, failed)

    def _store_exclusion(self, row: TrainingCorrection, excluded: bool) -> None:
        db = self._db
        self._serial += 1  # a read started before this write must not undo the tick
        self.background.run(
            lambda: set_excluded(db, row.item_id, row.keyframe_id, excluded),
            lambda _r: self.reload_corrections(),
            self._error,
        )

    def _error(self, message: str) -> None:
        self.message.setText(f"Something went wrong: {message}")
        self.message.setStyleSheet(error_style())
        self.message.setVisible(True)

    # -- a run --------------------------------------------------------------------------
    def request(self) -> FinetuneRequest:
        holdout, epochs, rank = self.plan.options()
        return FinetuneRequest(epochs=epochs, rank=rank, holdout=holdout, **self.request_defaults)

    def start(self) -> None:
        if self.plan.start_reason():
            return
        self._save_options()
        self.bridge.start(self.request())

    def cancel(self) -> None:
        self.bridge.cancel()
        self.plan.cancel_button.setEnabled(False)
        self.progress.phase.setText("Cancelling…")

    def _run_started(self) -> None:
        self._started_at = time.monotonic()
        self._samples = {}
        self.progress.run_started()
        self.results.clear()
        self.results.setVisible(False)
        self.plan.set_running(True)
        self.tabs.setCurrentIndex(TABS.index("Training"))

    def _attach_running(self) -> None:
        """Opened while a run goes on (kept in the background): show it so far."""
        self.plan.set_running(True)
        self.progress.replay(self.bridge.history())
        self.tabs.setCurrentIndex(TABS.index("Training"))

    def _evaluated(self, which: str, _metrics: dict[str, float], samples: list[Any]) -> None:
        self._samples[which] = samples

    def _trained(self, done: Done) -> None:
        before, after = done.metrics_before, done.metrics_after
        self.results.show_metrics(before, after)
        self.results.show_samples(
            self._samples.get("before", []), self._samples.get("after", []), self._names
        )
        if before is None and after is None:
            self.results.show_no_evaluation()
        self.results.setVisible(True)

    def _activation_decided(self, activated: bool, adapter_id: str, reason: str) -> None:
        self.results.show_activation(activated, adapter_id, reason)
        self.results.setVisible(True)
        if activated:
            self.adapters_changed.emit()

    def _succeeded(self) -> None:
        self.plan.set_running(False)
        done = next((e for e in reversed(self.bridge.history()) if isinstance(e, Done)), None)
        took = ""
        if self._started_at is not None:  # the whole run, as the user waited for it
            took = f" in {duration_text(time.monotonic() - self._started_at)}"
        seconds = done.train_seconds if done is not None else None
        if seconds is not None:
            took += f" (training itself {duration_text(seconds)})"
        self.progress.run_succeeded(f"Fine-tune finished{took}.")
        self.adapters.reload()
        self.reload_corrections()

    def _failed(self, message: str) -> None:
        self.plan.set_running(False)
        self.progress.run_failed(message)

    def _cancelled(self) -> None:
        self.plan.set_running(False)
        self.progress.run_cancelled()

    def _activate_anyway(self, adapter_id: str) -> None:
        self.adapters.activate(adapter_id, force=True)

    def _activation_done(self, adapter_id: str, ok: bool, message: str) -> None:
        """ "Activate anyway" (or Activate in the list) for the adapter the results show."""
        if adapter_id != self.results.adapter_id():
            return
        if ok:
            self.results.show_activation(True, adapter_id)
        else:
            self.results.activation_failed(message)

    # -- options and closing ------------------------------------------------------------
    def _ui_settings(self) -> QSettings:
        return QSettings(str(self._data_dir.root / "window.ini"), QSettings.Format.IniFormat)

    def _restore_options(self) -> None:
        settings = self._ui_settings()
        try:
            holdout = float(settings.value("finetune/holdout", 0.2))  # type: ignore[arg-type]  # value() is typed object; a bad stored value raises, caught below
            epochs = int(settings.value("finetune/epochs", data.DEFAULT_EPOCHS))  # type: ignore[call-overload]  # as above
            rank = int(settings.value("finetune/rank", data.DEFAULT_RANK))  # type: ignore[call-overload]  # as above
        except (TypeError, ValueError):
            return
        self.plan.set_options(holdout, epochs, rank)

    def _save_options(self) -> None:
        holdout, epochs, rank = self.plan.options()
        settings = self._ui_settings()
        settings.setValue("finetune/holdout", holdout)
        settings.setValue("finetune/epochs", epochs)
        settings.setValue("finetune/rank", rank)

    def done(self, result: int) -> None:
        if self.bridge.running() and not self._may_close():
            return
        self.plan.installer.shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.bridge.running() and not self._may_close():
            event.ignore()
            return
        super().closeEvent(event)

    def _may_close(self) -> bool:
        """Closing mid-run: keep it going in the background, cancel it, or stay."""
        choice = self.close_choice()
        if choice == "cancel":
            self.cancel()
        return choice in ("keep", "cancel")

    def close_choice(self) -> str:
        """Ask: "keep" running in the background, "cancel" the run, or "stay"."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("A fine-tune is running")
        box.setText("A fine-tune is running. Keep it running in the background?")
        box.setInformativeText(
            "You can reopen this screen to follow it. Cancelling stops it; nothing is saved."
        )
        keep = box.addButton("Keep running", QMessageBox.ButtonRole.AcceptRole)
        stop = box.addButton("Cancel fine-tune", QMessageBox.ButtonRole.DestructiveRole)
        stay = box.addButton("Stay", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(stay)
        box.exec()
        clicked = box.clickedButton()
        return "keep" if clicked is keep else "cancel" if clicked is stop else "stay"
