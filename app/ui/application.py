"""Starting the desktop application."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from app import APP_NAME
from app.core.datadir import DataDir


def run_gui(data_dir: DataDir) -> int:
    from app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    window = MainWindow(data_dir)
    window.show()
    return app.exec()
