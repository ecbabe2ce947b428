"""The Prompts settings page: which template new captions use, its text, language, EXIF.

Edited texts are stored per template id in `prompt_overrides` (the built-in text stays in
resources/prompts.json, so "Reset to default" is just dropping the override). The worker
fills a template with `str.format`, so a stray brace would fail every caption: an edit is
checked first and only a usable text is saved, a moment after the typing stops.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.model_status import check_prompt_text
from app.core.settings import SettingsValues
from app.ui.settings.common import SettingsStore, message_label, note_label, show_message
from models.prompts import PromptTemplate, builtin_prompts

LANGUAGES = (
    "English", "Deutsch", "Français", "Español", "Italiano", "Português", "Nederlands",
    "Polski", "Svenska", "Türkçe", "Русский", "日本語", "中文", "한국어",
)  # fmt: skip
MAX_LANGUAGE_CHARS = 40
TEXT_SAVE_DELAY_MS = 600
PLACEHOLDER_HELP = (
    "{language} becomes the caption language; {context} becomes what the photo's metadata "
    "says (date, camera) when “Include EXIF context” is on."
)


class PromptsPage(QWidget):
    def __init__(self, store: SettingsStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._templates: dict[str, PromptTemplate] = {}
        self._overrides: dict[str, str] = {}
        self._shown_id = ""
        self._language = ""
        self._dirty = False  # the shown text was edited and not stored yet
        self._build()
        self.setEnabled(False)  # until the stored values are shown
        store.load(self._loaded, also=builtin_prompts)

    def _build(self) -> None:
        self.template_combo = QComboBox()
        self.template_combo.setMinimumWidth(260)
        self.text_edit = QPlainTextEdit()
        self.text_edit.setMinimumHeight(120)
        self.text_edit.setMaximumHeight(220)
        self.text_edit.setTabChangesFocus(True)
        self.edited_label = QLabel()
        self.reset_button = QPushButton("Reset to default")
        self.reset_button.clicked.connect(self.reset_text)
        self.message = message_label()
        text_row = QHBoxLayout()
        text_row.addWidget(self.edited_label)
        text_row.addStretch(1)
        text_row.addWidget(self.reset_button)
        text_box = QVBoxLayout()
        text_box.addWidget(self.text_edit)
        text_box.addLayout(text_row)
        text_box.addWidget(self.message)
        text_box.addWidget(note_label(PLACEHOLDER_HELP))

        self.language_combo = QComboBox()
        self.language_combo.setEditable(True)
        self.language_combo.addItems(LANGUAGES)
        self.language_combo.setMinimumWidth(200)
        self.language_combo.setToolTip("Any language the model knows; type it if it is not listed")
        self.language_message = message_label()
        self.exif_check = QCheckBox("Tell the model when and with which camera a photo was taken")
        self.moments_check = QCheckBox(
            "Caption each keyframe on its own: steadier moments, about twice the time"
        )

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.setVerticalSpacing(10)
        form.addRow("Prompt for new captions:", self.template_combo)
        form.addRow("Instruction:", text_box)
        form.addRow("Caption language:", self.language_combo)
        form.addRow("", self.language_message)
        form.addRow("Include EXIF context:", self.exif_check)
        form.addRow("Video moments:", self.moments_check)
        page = QVBoxLayout(self)
        page.addLayout(form)
        page.addStretch(1)

        self._text_timer = QTimer(self, singleShot=True, interval=TEXT_SAVE_DELAY_MS)
        self._text_timer.timeout.connect(self.save_text)
        self.template_combo.currentIndexChanged.connect(self._template_chosen)
        self.text_edit.textChanged.connect(self._text_changed)
        language_edit = self.language_combo.lineEdit()
        assert language_edit is not None  # an editable combo box always has its line edit
        language_edit.editingFinished.connect(self.save_language)
        self.language_combo.activated.connect(lambda _index: self.save_language())
        self.exif_check.toggled.connect(
            lambda checked: self._store.save({"include_exif_context": checked})
        )
        self.moments_check.toggled.connect(
            lambda checked: self._store.save({"moments_per_keyframe": checked})
        )

    def _loaded(self, values: SettingsValues, templates: dict[str, PromptTemplate]) -> None:
        self._templates = templates
        self._overrides = dict(values.prompt_overrides)
        widgets = (self.template_combo, self.language_combo, self.exif_check, self.moments_check)
        for widget in widgets:
            widget.blockSignals(True)
        for template in templates.values():
            self.template_combo.addItem(template.name, template.id)
        chosen = values.prompt_id if values.prompt_id in templates else "short"
        self.template_combo.setCurrentIndex(max(self.template_combo.findData(chosen), 0))
        self._language = values.caption_language
        self.language_combo.setCurrentText(self._language)
        self.exif_check.setChecked(values.include_exif_context)
        self.moments_check.setChecked(values.moments_per_keyframe)
        for widget in widgets:
            widget.blockSignals(False)
        self._show_template(self.template_combo.currentData())
        self.setEnabled(True)

    # -- the template and its text ------------------------------------------------------
    def _template_chosen(self) -> None:
        self.save_text()  # an edit of the template shown so far is kept
        template_id = self.template_combo.currentData()
        self._show_template(template_id)
        self._store.save({"prompt_id": template_id})

    def _show_template(self, template_id: str) -> None:
        self._shown_id = template_id
        text = self._overrides.get(template_id) or self._templates[template_id].instruction
        self.text_edit.blockSignals(True)
        self.text_edit.setPlainText(text)
        self.text_edit.blockSignals(False)
        self._dirty = False
        show_message(self.message, "")
        self._show_edited()

    def _show_edited(self) -> None:
        edited = self._shown_id in self._overrides
        self.edited_label.setText("Edited (differs from the built-in text)" if edited else "")
        self.reset_button.setEnabled(edited)

    def _text_changed(self) -> None:
        problem = check_prompt_text(self.text_edit.toPlainText())
        show_message(self.message, problem or "", error=True)
        self._dirty = True
        self._text_timer.start()

    def save_text(self) -> None:
        """Store the shown text if it is usable (an override only while it differs)."""
        self._text_timer.stop()
        if not self._dirty or not self._shown_id:
            return
        text = self.text_edit.toPlainText().strip()
        if check_prompt_text(text) is not None:
            return  # the red message stays; nothing unusable is stored
        self._dirty = False
        if text == self._templates[self._shown_id].instruction:
            self._overrides.pop(self._shown_id, None)
        else:
            self._overrides[self._shown_id] = text
        self._store.save({"prompt_overrides": dict(self._overrides)})
        self._show_edited()

    def reset_text(self) -> None:
        self._text_timer.stop()
        self._dirty = False
        self._overrides.pop(self._shown_id, None)
        self._store.save({"prompt_overrides": dict(self._overrides)})
        self._show_template(self._shown_id)

    # -- language -----------------------------------------------------------------------
    def save_language(self) -> None:
        language = self.language_combo.currentText().strip()
        if not language or len(language) > MAX_LANGUAGE_CHARS:
            show_message(
                self.language_message,
                f"Write the name of a language (at most {MAX_LANGUAGE_CHARS} letters).",
                error=True,
            )
            return
        show_message(self.language_message, "")
        if language != self._language:
            self._language = language
            self._store.save({"caption_language": language})

    def flush(self) -> None:
        """Save a pending text edit now (the dialog is closing)."""
        self.save_text()
