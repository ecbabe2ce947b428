"""The Appearance settings page: light, dark, or as the system is.

The theme belongs to the window, not to the library's captions, so it is kept with the
window's layout (window.ini in the data folder) and applied at once to the open window.
"""

from __future__ import annotations

from typing import cast

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QComboBox, QFormLayout, QGroupBox, QVBoxLayout, QWidget

from app.core.datadir import DataDir
from app.ui.settings.common import note_label
from app.ui.theme import THEME_ENV, THEMES, apply_theme

THEME_KEY = "appearance/theme"
THEME_NAMES = {"system": "As the system is", "light": "Light", "dark": "Dark"}


def window_settings(data_dir: DataDir) -> QSettings:
    """Window layout and look live with the library (--data-dir keeps runs apart)."""
    return QSettings(str(data_dir.root / "window.ini"), QSettings.Format.IniFormat)


def stored_theme(data_dir: DataDir) -> str:
    value = window_settings(data_dir).value(THEME_KEY, "system")
    return value if value in THEMES else "system"


class AppearancePage(QWidget):
    def __init__(self, data_dir: DataDir, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data_dir = data_dir
        self.theme_combo = QComboBox()
        self.theme_combo.setObjectName("theme")
        for choice in THEMES:
            self.theme_combo.addItem(THEME_NAMES[choice], choice)
        self.theme_combo.setCurrentIndex(THEMES.index(stored_theme(data_dir)))
        self.theme_combo.currentIndexChanged.connect(self._theme_chosen)
        box = QGroupBox("Look")
        form = QFormLayout(box)
        form.addRow("Theme:", self.theme_combo)
        form.addRow(
            note_label(
                "Both themes meet WCAG 2.1 AA contrast. The environment variable "
                f"{THEME_ENV}=light|dark, where set, wins over this choice."
            )
        )
        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addStretch(1)

    def _theme_chosen(self, index: int) -> None:
        choice = THEMES[index]
        window_settings(self._data_dir).setValue(THEME_KEY, choice)
        apply_theme(cast(QApplication, QApplication.instance()), choice)

    def flush(self) -> None:
        """Nothing waits: the choice is saved when made."""
