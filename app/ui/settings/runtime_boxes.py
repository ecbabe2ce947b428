"""The Models page's two side boxes: this computer (llama.cpp build, GPU offload) and a custom
GGUF + mmproj pair from disk.

A custom pair is read and checked (models/spec.py) on the background pool before anything is
stored, so a swapped, truncated or wrong-extension file is a red line under the fields, never
a worker that crashes later. Offload changes are saved a moment after the last edit.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.core.model_status import MachineInfo, check_custom_pair
from app.core.settings import GpuOffload, SettingsValues
from app.services.background import Background
from app.ui.settings.common import SettingsStore, message_label, note_label, show_message
from models.errors import ModelError

OFFLOAD_MODES = (
    (GpuOffload.AUTO, "Automatic: as many layers on the GPU as the build allows"),
    (GpuOffload.CPU, "CPU only"),
    (GpuOffload.LAYERS, "A fixed number of layers on the GPU"),
)
MAX_GPU_LAYERS = 200
SAVE_DELAY_MS = 400
GGUF_FILTER = "GGUF files (*.gguf);;All files (*)"


class OffloadBox(QGroupBox):
    """What llama.cpp can use here, and how much of the model goes to the GPU."""

    def __init__(self, store: SettingsStore, parent: QWidget | None = None) -> None:
        super().__init__("This computer", parent)
        self._store = store
        self.build_label = QLabel("checking…")
        self.build_label.setWordWrap(True)
        self.machine_label = QLabel("checking…")
        self.machine_label.setWordWrap(True)
        self.offload_combo = QComboBox()
        for mode, text in OFFLOAD_MODES:
            self.offload_combo.addItem(text, mode.value)
        self.layers_spin = QSpinBox()
        self.layers_spin.setRange(0, MAX_GPU_LAYERS)
        self.layers_spin.setSuffix(" layers")
        self.layers_spin.setMinimumWidth(110)
        self.offload_note = note_label("")
        self.offload_note.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.offload_combo, 1)
        row.addWidget(self.layers_spin)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("llama.cpp build:", self.build_label)
        form.addRow("Hardware:", self.machine_label)
        form.addRow("GPU offload:", row)
        form.addRow("", self.offload_note)
        self._save_timer = QTimer(self, singleShot=True, interval=SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self._save)
        self.setEnabled(False)  # until the stored values are shown
        self.offload_combo.currentIndexChanged.connect(self._changed)
        self.layers_spin.valueChanged.connect(self._changed)

    def load(self, values: SettingsValues) -> None:
        """Show stored values without saving them back."""
        modes = [mode for mode, _text in OFFLOAD_MODES]
        mode = values.gpu_offload
        for widget in (self.offload_combo, self.layers_spin):
            widget.blockSignals(True)
        self.offload_combo.setCurrentIndex(modes.index(mode))
        self.layers_spin.setValue(max(0, min(values.gpu_layers, MAX_GPU_LAYERS)))
        for widget in (self.offload_combo, self.layers_spin):
            widget.blockSignals(False)
        self.layers_spin.setEnabled(mode == GpuOffload.LAYERS)
        self.setEnabled(True)

    def show_machine(self, info: MachineInfo | None, problem: str = "") -> None:
        if info is None:
            self.build_label.setText(f"could not be checked: {problem}")
            self.machine_label.setText("unknown")
            return
        self.build_label.setText(info.build.describe())
        self.machine_label.setText(info.describe())
        if info.build.loaded and not info.build.gpu_offload:
            show_message(
                self.offload_note,
                "This llama.cpp build runs on the CPU only, so the offload setting has no "
                "effect. A CUDA or Metal build of llama-cpp-python can use the GPU.",
            )

    def _changed(self) -> None:
        self.layers_spin.setEnabled(self.offload_combo.currentData() == GpuOffload.LAYERS)
        self._save_timer.start()

    def _save(self) -> None:
        self._store.save(
            {
                "gpu_offload": self.offload_combo.currentData(),
                "gpu_layers": self.layers_spin.value(),
            }
        )

    def flush(self) -> None:
        """Save a pending edit now (the dialog is closing)."""
        if self._save_timer.isActive():
            self._save_timer.stop()
            self._save()


class CustomModelBox(QGroupBox):
    """A local GGUF model and its vision projector, used instead of the catalog."""

    applied = Signal(bool)  # True: the custom pair is now in use; False: no longer

    def __init__(
        self, store: SettingsStore, background: Background, parent: QWidget | None = None
    ) -> None:
        super().__init__("Your own model (GGUF + mmproj)", parent)
        self._store = store
        self._background = background
        self._in_use = False
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("…/model-Q4_K_M.gguf")
        self.mmproj_edit = QLineEdit()
        self.mmproj_edit.setPlaceholderText("…/mmproj-model-f16.gguf")
        self.apply_button = QPushButton("Use these files")
        self.apply_button.clicked.connect(self.apply)
        self.clear_button = QPushButton("Stop using")
        self.clear_button.setToolTip("Caption with the chosen catalog model again")
        self.clear_button.clicked.connect(self.clear)
        self.message = message_label()
        buttons = QHBoxLayout()
        buttons.addWidget(
            note_label("Any llama.cpp vision model: its GGUF file and the matching mmproj file."),
            1,
        )
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.apply_button)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Model file:", self._with_browse(self.model_edit, "Choose the model file"))
        form.addRow(
            "Vision projector:", self._with_browse(self.mmproj_edit, "Choose the mmproj file")
        )
        form.addRow(buttons)
        form.addRow(self.message)
        self.clear_button.setEnabled(False)

    def _with_browse(self, edit: QLineEdit, title: str) -> QHBoxLayout:
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(edit, title))
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        return row

    def _browse(self, edit: QLineEdit, title: str) -> None:
        start = os.path.dirname(edit.text() or self.model_edit.text())
        path, _filter = QFileDialog.getOpenFileName(self, title, start, GGUF_FILTER)
        if path:
            edit.setText(path)

    def in_use(self) -> bool:
        return self._in_use

    def load(self, model: str, mmproj: str) -> None:
        self.model_edit.setText(model)
        self.mmproj_edit.setText(mmproj)
        self._set_in_use(bool(model))
        if model:
            show_message(self.message, "In use: captions are made with these files.")

    def apply(self) -> None:
        """Check the pair off the GUI thread; store it only if it can be used."""
        model, mmproj = self.model_edit.text().strip(), self.mmproj_edit.text().strip()
        self.apply_button.setEnabled(False)
        show_message(self.message, "Checking the files…")

        def check() -> tuple[tuple[str, str, str] | None, str]:
            try:
                spec = check_custom_pair(model, mmproj)
            except ModelError as exc:
                return None, str(exc)
            return (str(spec.model_path), str(spec.mmproj_path), spec.name), ""

        self._background.run(check, self._checked, self._check_failed)

    def _checked(self, result: tuple[tuple[str, str, str] | None, str]) -> None:
        found, problem = result
        self.apply_button.setEnabled(True)
        if found is None:
            show_message(self.message, problem, error=True)
            return
        model, mmproj, name = found
        self.model_edit.setText(model)
        self.mmproj_edit.setText(mmproj)

        def saved() -> None:
            self._set_in_use(True)
            show_message(self.message, f"In use: {name}. Captions are made with these files.")
            self.applied.emit(True)

        self._store.save({"custom_model_path": model, "custom_mmproj_path": mmproj}, saved)

    def _check_failed(self, message: str) -> None:
        self.apply_button.setEnabled(True)
        show_message(self.message, f"The files could not be checked: {message}", error=True)

    def clear(self) -> None:
        def saved() -> None:
            self.mark_not_in_use()
            self.applied.emit(False)

        self._store.save({"custom_model_path": "", "custom_mmproj_path": ""}, saved)

    def mark_not_in_use(self) -> None:
        """A catalog model was chosen (which also cleared the stored custom paths)."""
        self._set_in_use(False)
        show_message(self.message, "")

    def _set_in_use(self, in_use: bool) -> None:
        self._in_use = in_use
        self.clear_button.setEnabled(in_use)
