"""The export options as widgets: format, where the files go, which caption and how it
is written. Only the options that apply to the chosen format are enabled, so a choice
the core would refuse (images with CSV, "beside" for a single file) cannot be made.

The format list comes from the `Format` enum: a format added to the core appears here
with its value as its name until `words.FORMAT_LABELS` has a better one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QWidget,
)

from app.core.export.formats import (
    FRAME_FORMATS,
    PER_IMAGE,
    SINGLE_FILE_NAMES,
    Format,
    Images,
    TagPlace,
    Which,
)
from app.core.export.run import ExportOptions
from app.ui.export.choices import ExportChoices
from app.ui.export.words import IMAGE_LABELS, TAG_LABELS, WHICH_LABELS, format_label
from app.ui.places import start_folder

# (format, the path shown) -> the path chosen, or "" when the user closed the chooser
ChoosePath = Callable[[Format, str], str]


def takes_images(fmt: Format) -> bool:
    """Formats that make a data set folder, where the images can be copied or linked
    and video moments written as frames."""
    return fmt in FRAME_FORMATS


def takes_tags(fmt: Format) -> bool:
    """CSV has its own tags column and HTML writes alt text; the others one composed
    line."""
    return fmt not in (Format.CSV, Format.HTML)


class ExportForm(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.format_combo = QComboBox()
        self.format_combo.setObjectName("export_format")
        for fmt in Format:
            self.format_combo.addItem(format_label(fmt), fmt)
        self.beside = QRadioButton("Beside each image")
        self.beside.setObjectName("export_beside")
        self.to_path = QRadioButton("In a folder:")
        self.to_path.setChecked(True)
        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("export_path")
        self.path_edit.setPlaceholderText("a folder")
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setObjectName("export_choose")
        self.choose_path: ChoosePath = self._choose_with_dialog  # tests replace it
        self.which_combo = _combo("export_which", Which, WHICH_LABELS)
        self.review_box = QCheckBox("Also AI captions that still need review")
        self.review_box.setObjectName("export_include_review")
        self.tags_combo = _combo("export_tags", TagPlace, TAG_LABELS)
        self.separator_edit = QLineEdit(", ")
        self.separator_edit.setObjectName("export_separator")
        self.trigger_edit = QLineEdit()
        self.trigger_edit.setObjectName("export_trigger")
        self.trigger_edit.setPlaceholderText("optional, written first (a LoRA's trigger word)")
        self.images_combo = _combo("export_images", Images, IMAGE_LABELS)
        self.frames_box = QCheckBox("Also each captioned video moment, as a JPEG")
        self.frames_box.setObjectName("export_video_frames")
        self.frames_box.setToolTip(
            "For video training sets: a frame per moment, with that moment's caption"
        )

        path_row = QHBoxLayout()
        path_row.addWidget(self.to_path)
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.choose_button)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Format:", self.format_combo)
        form.addRow("Write:", self.beside)
        form.addRow("", path_row)
        form.addRow("Caption:", self.which_combo)
        form.addRow("", self.review_box)
        form.addRow("Tags:", self.tags_combo)
        form.addRow("Separator:", self.separator_edit)
        form.addRow("Trigger word:", self.trigger_edit)
        form.addRow("Images:", self.images_combo)
        form.addRow("Videos:", self.frames_box)

        self.format_combo.currentIndexChanged.connect(self._update)
        self.beside.toggled.connect(self._update)
        self.which_combo.currentIndexChanged.connect(self._update)
        self.choose_button.clicked.connect(self._choose)
        self._update()

    # -- values ---------------------------------------------------------------------------
    def format(self) -> Format:
        return Format(self.format_combo.currentData())

    def set_choices(self, c: ExportChoices) -> None:
        _select(self.format_combo, c.format)
        (self.beside if c.beside else self.to_path).setChecked(True)
        self.path_edit.setText(c.out)
        _select(self.which_combo, c.which)
        self.review_box.setChecked(c.include_review)
        _select(self.tags_combo, c.tags)
        self.separator_edit.setText(c.separator)
        self.trigger_edit.setText(c.trigger)
        _select(self.images_combo, c.images)
        self.frames_box.setChecked(c.video_frames)
        self._update()

    def choices(self) -> ExportChoices:
        return ExportChoices(
            format=self.format(),
            beside=self.beside.isChecked(),
            out=self.path_edit.text().strip(),
            which=Which(self.which_combo.currentData()),
            include_review=self.review_box.isChecked(),
            tags=TagPlace(self.tags_combo.currentData()),
            separator=self.separator_edit.text(),
            trigger=self.trigger_edit.text().strip(),
            images=Images(self.images_combo.currentData()),
            video_frames=self.frames_box.isChecked(),
        )

    def options(self) -> ExportOptions | str:
        """The options as the core takes them, or a sentence saying what is missing.
        Options that do not apply to the format are left at their defaults."""
        c = self.choices()
        fmt = c.format
        beside = c.beside and fmt in PER_IMAGE
        if not beside and not c.out:
            where = "a folder" if fmt in PER_IMAGE else "a folder or a file"
            return f"Choose {where} to write to."
        out = None if beside else Path(c.out).expanduser()
        if out is not None and not out.is_absolute():  # relative to what the user can't see
            return f"Give the full path of {c.out!r}, or choose it with Choose…"
        tags = takes_tags(fmt)
        return ExportOptions(
            format=fmt,
            out=out,
            beside=beside,
            which=c.which,
            include_review=c.include_review and c.which is Which.ACCEPTED,
            tags=c.tags if tags else TagPlace.NONE,
            separator=c.separator if tags else ", ",
            trigger=(c.trigger or None) if tags else None,
            images=c.images if takes_images(fmt) and not beside else Images.NONE,
            video_frames=c.video_frames and takes_images(fmt) and not beside,
        )

    # -- what applies ---------------------------------------------------------------------
    def _update(self) -> None:
        fmt = self.format()
        per_image = fmt in PER_IMAGE
        self.beside.setEnabled(per_image)
        if not per_image:
            self.to_path.setChecked(True)
        beside = self.beside.isChecked()
        self.to_path.setText("In a folder:" if per_image else "To a folder or file:")
        self.path_edit.setPlaceholderText(
            "a folder" if per_image else f"a folder (for {_default_name(fmt)}) or a file"
        )
        self.path_edit.setEnabled(not beside)
        self.choose_button.setEnabled(not beside)
        self.review_box.setEnabled(self.which_combo.currentData() == Which.ACCEPTED)
        for widget in (self.tags_combo, self.separator_edit, self.trigger_edit):
            widget.setEnabled(takes_tags(fmt))
        self.images_combo.setEnabled(takes_images(fmt) and not beside)
        self.frames_box.setEnabled(takes_images(fmt) and not beside)

    def _choose(self) -> None:
        path = self.choose_path(self.format(), self.path_edit.text().strip())
        if path:
            self.path_edit.setText(path)

    def _choose_with_dialog(self, fmt: Format, current: str) -> str:
        start = current or start_folder()
        if fmt in PER_IMAGE:
            return QFileDialog.getExistingDirectory(self, "Export the caption files into", start)
        if current and Path(current).is_dir():
            start = str(Path(current) / _default_name(fmt))
        path, _filter = QFileDialog.getSaveFileName(
            self, f"Export {format_label(fmt)} as", start, f"*.{fmt}"
        )
        return path


def _default_name(fmt: Format) -> str:
    return SINGLE_FILE_NAMES.get(fmt, f"captions.{fmt}")


def _combo(name: str, values: Iterable[StrEnum], labels: dict[str, str]) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    for value in values:
        combo.addItem(labels.get(str(value), str(value)), value)
    return combo


def _select(combo: QComboBox, value: object) -> None:
    index = combo.findData(value)
    if index >= 0:
        combo.setCurrentIndex(index)
