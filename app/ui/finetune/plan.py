"""The side panel of the fine-tune screen: what training needs on this machine, the
options, Start / Cancel, and installing the training components.

It shows a `PlanView` (computed by the screen off the GUI thread) and says plainly why Start
is disabled: too few corrections, a custom model, not enough memory, packages missing (with
an "Install training components" button that runs the installer with its output and a
Cancel), or a run in progress.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.services.finetune_bridge import InstallRunner
from app.ui.activity.widgets import duration_text
from app.ui.finetune.data import (
    DEFAULT_DROPOUT,
    DEFAULT_EPOCHS,
    DEFAULT_RANK,
    PlanView,
    RuntimeView,
)
from app.ui.finetune.words import memory_text
from app.ui.settings.common import NOTE_STYLE, error_style, note_label

RANKS = (8, 16, 32, 64, 128)
METHOD_NAMES = {"lora": "LoRA", "qlora": "QLoRA (4-bit)"}
DEVICE_NAMES = {"cuda": "NVIDIA GPU", "mps": "Apple GPU", "cpu": "CPU"}
INSTALL_LINES = 400  # the installer's output kept on screen


class PlanPanel(QWidget):
    options_changed = Signal()  # held-out share, epochs or rank: the screen re-plans
    holdout_changed = Signal(float)
    start_requested = Signal()
    cancel_requested = Signal()
    installed = Signal(bool)  # the installer ended: ok?
    remove_requested = Signal()  # "Remove training components" (the packaged app)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._plan: PlanView | None = None
        self._running = False
        self._install_command: list[str] | None = None
        self._runtime = RuntimeView(packaged=False)
        self._removing = False
        self.installer = InstallRunner(self)
        self.installer.output.connect(self._install_output)
        self.installer.finished.connect(self._install_finished)
        self._build()
        self._refresh()

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.setMinimumWidth(300)
        self.model_label = QLabel("Model: …")
        self.model_label.setObjectName("model_label")
        self.model_label.setWordWrap(True)

        needs = QGroupBox("What training needs here")
        form = QFormLayout(needs)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.memory_label, self.method_label = _value_label(), _value_label()
        self.device_label, self.time_label = _value_label(), _value_label()
        form.addRow("Memory", self.memory_label)
        form.addRow("Method", self.method_label)
        form.addRow("Runs on", self.device_label)
        form.addRow("Time", self.time_label)

        options = QGroupBox("Options")
        options_form = QFormLayout(options)
        self.holdout = QSpinBox()
        self.holdout.setRange(0, 50)
        self.holdout.setSingleStep(5)
        self.holdout.setSuffix(" %")
        self.holdout.setValue(20)
        self.holdout.setToolTip(
            "This share of your corrected photos is never trained on: it scores the model "
            "before and after, so you can see whether fine-tuning helped"
        )
        self.holdout.valueChanged.connect(lambda v: self.holdout_changed.emit(v / 100))
        options_form.addRow("Held out for scoring", self.holdout)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 30)
        self.epochs.setValue(DEFAULT_EPOCHS)
        self.epochs.setToolTip("Passes over your corrections; more learns them more closely")
        self.epochs.valueChanged.connect(self.options_changed)
        self.rank = QComboBox()
        for rank in RANKS:
            self.rank.addItem(str(rank), rank)
        self.rank.setCurrentIndex(RANKS.index(DEFAULT_RANK))
        self.rank.setToolTip("LoRA rank: larger adapts more, needs more memory")
        self.rank.currentIndexChanged.connect(self._rank_changed)
        self.advanced = QToolButton()
        self.advanced.setObjectName("advanced_toggle")
        self.advanced.setText("Advanced")
        self.advanced.setCheckable(True)
        self.advanced.setAutoRaise(True)
        self.advanced.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced.setArrowType(Qt.ArrowType.RightArrow)
        advanced_form = QFormLayout()
        advanced_form.setContentsMargins(12, 0, 0, 0)
        advanced_form.addRow("Epochs", self.epochs)
        advanced_form.addRow("LoRA rank", self.rank)
        self.alpha_note = note_label("")
        advanced_form.addRow(self.alpha_note)
        self._advanced_body = QWidget()
        self._advanced_body.setLayout(advanced_form)
        self._advanced_body.setVisible(False)
        self.advanced.toggled.connect(self._show_advanced)
        options_form.addRow(self.advanced)
        options_form.addRow(self._advanced_body)
        self._rank_changed()

        self.reason = QLabel("")
        self.reason.setObjectName("refusal")
        self.reason.setWordWrap(True)
        self.reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.install_button = QPushButton("Install training components")
        self.install_button.setObjectName("install_button")
        self.install_button.clicked.connect(self._install_clicked)
        self.install_cancel = QPushButton("Cancel install")
        self.install_cancel.clicked.connect(self.installer.cancel)
        self.install_log = QPlainTextEdit()
        self.install_log.setObjectName("install_log")
        self.install_log.setReadOnly(True)
        self.install_log.setMaximumBlockCount(INSTALL_LINES)
        self.install_log.setMinimumHeight(120)
        self.install_log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.remove_button = QPushButton("Remove training components")
        self.remove_button.setObjectName("remove_runtime_button")
        self.remove_button.setToolTip(
            "Deletes the training components from Captionist's data folder; your adapters "
            "stay. Install them again to fine-tune."
        )
        self.remove_button.clicked.connect(self.remove_requested)
        install_row = QHBoxLayout()
        install_row.addWidget(self.install_button)
        install_row.addWidget(self.install_cancel)
        install_row.addWidget(self.remove_button)
        install_row.addStretch()

        self.start_button = QPushButton("Start fine-tuning")
        self.start_button.setObjectName("start_button")
        self.start_button.setDefault(True)
        self.start_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.start_button.clicked.connect(self.start_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_button")
        self.cancel_button.setIcon(
            self.style().standardIcon(QStyle.StandardPixmap.SP_DialogCancelButton)
        )
        self.cancel_button.setToolTip("Stop training; nothing is saved")
        self.cancel_button.clicked.connect(self.cancel_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.model_label)
        layout.addWidget(needs)
        layout.addWidget(options)
        layout.addWidget(self.reason)
        layout.addLayout(install_row)
        layout.addWidget(self.install_log, 1)
        layout.addStretch()
        layout.addLayout(buttons)

    # -- state --------------------------------------------------------------------------
    def set_model_name(self, name: str) -> None:
        self.model_label.setText(f"<b>Model:</b> {html.escape(name)}")

    def set_plan(self, plan: PlanView | None) -> None:
        self._plan = plan
        self._refresh()

    def set_install_command(self, command: list[str] | None) -> None:
        self._install_command = command
        self._refresh()

    def set_runtime(self, view: RuntimeView) -> None:
        self._runtime = view
        self._refresh()

    def set_removing(self, removing: bool) -> None:
        self._removing = removing
        self._refresh()

    def show_install_message(self, text: str) -> None:
        self.install_log.clear()
        self.install_log.appendPlainText(text)
        self._refresh()

    def set_running(self, running: bool) -> None:
        self._running = running
        for control in (self.holdout, self.epochs, self.rank):
            control.setEnabled(not running)
        self._refresh()

    def options(self) -> tuple[float, int, int]:
        """(held-out share, epochs, rank)."""
        return self.holdout.value() / 100, self.epochs.value(), int(self.rank.currentData())

    def set_options(self, holdout: float, epochs: int, rank: int) -> None:
        self.holdout.setValue(round(holdout * 100))
        self.epochs.setValue(epochs)
        if rank in RANKS:
            self.rank.setCurrentIndex(RANKS.index(rank))
        if (epochs, rank) != (DEFAULT_EPOCHS, DEFAULT_RANK):
            self.advanced.setChecked(True)

    def start_reason(self) -> str:
        """Why Start is disabled, or "" when it is enabled."""
        plan = self._plan
        if self._running:
            return "A fine-tune is running."
        if self.installer.running():
            return "Installing the training components…"
        if self._removing:
            return "Removing the training components…"
        if plan is None:
            return "Checking what training needs on this computer…"
        if not plan.possible:
            return plan.refusal or "Fine-tuning is not possible on this computer."
        return ""

    def _refresh(self) -> None:
        plan = self._plan
        reason = self.start_reason()
        self.start_button.setEnabled(not reason)
        self.start_button.setToolTip(reason)
        self.cancel_button.setVisible(self._running)
        self.cancel_button.setEnabled(self._running)
        busy = self._running or (plan is None and not self.installer.running())
        self.reason.setText(reason)
        self.reason.setStyleSheet(NOTE_STYLE if busy else error_style())
        self.reason.setVisible(bool(reason))
        installing = self.installer.running()
        missing = bool(plan and plan.missing_packages)
        runtime = self._runtime
        self.install_button.setVisible(missing and not installing and not self._running)
        self.install_button.setEnabled(self._install_command is not None and not self._removing)
        if runtime.packaged:
            self.install_button.setText(runtime.install_text())
            self.install_button.setToolTip(
                "Downloads PyTorch and the other training packages once, into Captionist's "
                "data folder (nothing is installed elsewhere); needs the internet"
            )
        elif missing and plan:
            self.install_button.setToolTip(
                "Installs " + ", ".join(plan.missing_packages) + " (from the internet, once)"
            )
        removable = runtime.packaged and runtime.installed
        self.remove_button.setVisible(removable and not installing and not self._running)
        self.remove_button.setEnabled(not self._removing)
        self.remove_button.setText(runtime.remove_text())
        self.install_cancel.setVisible(installing)
        self.install_log.setVisible(installing or bool(self.install_log.toPlainText()))
        self._show_needs(plan)

    def _show_needs(self, plan: PlanView | None) -> None:
        if plan is None or not plan.method:
            for label in (self.memory_label, self.method_label, self.device_label):
                label.setText("—")
            self.time_label.setText("—")
            return
        short = plan.memory_needed_gb > plan.memory_available_gb > 0
        # 0 GB needed is the planner's "unknown" (no parameter count for this model): the
        # line then says what is available, never "0.0 GB needed".
        self.memory_label.setText(
            memory_text(plan.memory_needed_gb, plan.memory_available_gb) or "—"
        )
        self.memory_label.setStyleSheet(error_style() if short else "")
        method = METHOD_NAMES.get(plan.method, plan.method)
        reason = plan.method_reason
        if not reason:
            self.method_label.setText(method)
        elif reason.lower().startswith(plan.method.lower()):
            self.method_label.setText(reason)  # "LoRA in float32 on the CPU (…)"
        else:
            self.method_label.setText(f"{method}: {reason}")
        self.device_label.setText(DEVICE_NAMES.get(plan.device, plan.device or "—"))
        self.time_label.setText(
            f"roughly {duration_text(plan.estimated_seconds)}"
            if plan.estimated_seconds > 0
            else "—"
        )

    def _show_advanced(self, shown: bool) -> None:
        self._advanced_body.setVisible(shown)
        self.advanced.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _rank_changed(self) -> None:
        rank = int(self.rank.currentData())
        self.alpha_note.setText(
            f"Alpha {2 * rank} (twice the rank), dropout {DEFAULT_DROPOUT:g}, "
            "on the attention projections q_proj and v_proj."
        )
        self.options_changed.emit()

    # -- installing ---------------------------------------------------------------------
    def _install_clicked(self) -> None:
        if self._install_command is None:
            return
        self.install_log.clear()
        self.installer.start(self._install_command)
        self._refresh()

    def _install_output(self, line: str) -> None:
        self.install_log.appendPlainText(line)

    def _install_finished(self, ok: bool, message: str) -> None:
        self.install_log.appendPlainText(message)
        self._refresh()
        self.installed.emit(ok)


def _value_label() -> QLabel:
    label = QLabel("—")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
