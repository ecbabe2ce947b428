"""Starting the desktop application: style, palette, icon, window."""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from app import APP_NAME
from app.core.datadir import DataDir
from models.resources import RESOURCES

THEME_ENV = "CAPTIONIST_THEME"  # "dark" or "light" overrides the system's choice
APP_ICON = RESOURCES / "icons" / "captionist.svg"


def run_gui(data_dir: DataDir) -> int:
    from app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    apply_look(app)  # type: ignore[arg-type]
    window = MainWindow(data_dir)
    window.show()
    return app.exec()


def apply_look(app: QApplication) -> None:
    """Fusion everywhere (the same look on every platform, and it follows the palette),
    dark when the system is dark or the user asks for it."""
    app.setStyle("Fusion")
    app.setWindowIcon(QIcon(str(APP_ICON)))
    wanted = os.environ.get(THEME_ENV, "").lower()
    system_dark = QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
    if wanted == "dark" or (wanted != "light" and system_dark):
        app.setPalette(dark_palette())


def dark_palette() -> QPalette:
    palette = QPalette()
    role, colour = QPalette.ColorRole, QColor
    for r, c in {
        role.Window: colour(37, 37, 40),
        role.WindowText: colour(230, 230, 232),
        role.Base: colour(28, 28, 30),
        role.AlternateBase: colour(48, 48, 52),
        role.ToolTipBase: colour(52, 52, 56),
        role.ToolTipText: colour(235, 235, 235),
        role.Text: colour(230, 230, 232),
        role.Button: colour(48, 48, 52),
        role.ButtonText: colour(230, 230, 232),
        role.BrightText: colour(255, 90, 90),
        role.Highlight: colour(64, 110, 220),
        role.HighlightedText: colour(255, 255, 255),
        role.Link: colour(110, 160, 255),
        role.PlaceholderText: colour(140, 140, 146),
        role.Mid: colour(70, 70, 75),
        role.Midlight: colour(60, 60, 66),
        role.Light: colour(80, 80, 86),
        role.Dark: colour(20, 20, 22),
        role.Shadow: colour(0, 0, 0),
    }.items():
        palette.setColor(r, c)
    disabled = QPalette.ColorGroup.Disabled
    for r in (role.Text, role.ButtonText, role.WindowText):
        palette.setColor(disabled, r, colour(120, 120, 125))
    return palette
