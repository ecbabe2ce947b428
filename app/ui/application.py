"""Starting the desktop application: style, palette, icon, window."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from typing import cast

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app import APP_NAME
from app.core.datadir import DataDir
from app.core.desktop.entries import APP_ID
from app.core.logs import setup_logging
from app.core.storage.problems import EXIT_DAMAGED
from app.services.single_instance import InstanceServer, absolute_paths, hand_over, server_name
from app.ui.settings.appearance_page import stored_theme
from app.ui.theme import apply_theme
from models.resources import RESOURCES

APP_ICON = RESOURCES / "icons" / "captionist.svg"
EXIT_NO_DISPLAY = 2
SIGNAL_POLL_MS = 250


def run_gui(data_dir: DataDir, paths: Sequence[str] = (), *, caption: bool = True) -> int:
    """Open the window, or hand `paths` to the one already open for this library; they
    are queued first (`caption`) or only added and shown ("Open with"). The usual hand-over
    happened before this (app.launch); this one is for a window that started meanwhile."""
    if not _display_available():
        print(
            "error: no display to open the window on. From a terminal, "
            "`captionist caption PATH...` captions files and prints the captions.",
            file=sys.stderr,
        )
        return EXIT_NO_DISPLAY
    from app.ui.crash import CrashReporter
    from app.ui.window.main_window import MainWindow
    from app.ui.window.recovery import recover_if_damaged

    log_path = setup_logging(data_dir.root)
    app = cast(QApplication | None, QApplication.instance()) or QApplication(sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName(APP_ID)  # Wayland: the installed entry's icon and name
    name = server_name(data_dir.root)
    server = InstanceServer(name)
    if not server.listen() and hand_over(name, paths, caption=caption):
        return 0  # another launch won the race to listen a moment ago
    apply_look(app, data_dir)
    crashes = CrashReporter(log_path, QApplication.activeWindow)
    _close_on_signals(app)
    damage: str | None = None
    try:
        while True:  # again after a recovery asked for while the window was open
            if not recover_if_damaged(data_dir.database, damage):
                return EXIT_DAMAGED  # the user chose Quit: the damaged file is as it was
            crashes.install()  # from here on an unexpected exception is a dialog
            window = MainWindow(data_dir)
            server.paths_received.connect(window.handover.receive)
            window.show()
            if paths:
                window.handover.receive(absolute_paths(paths), caption)
                paths = ()
            code = app.exec()
            crashes.uninstall()
            server.paths_received.disconnect(window.handover.receive)
            if not window.recovery_wanted:
                return code
            damage = window.damage.detail or "found while in use"
            window.deleteLater()
    finally:
        crashes.uninstall()
        server.close()


def _close_on_signals(app: QApplication) -> None:
    """SIGTERM (logout, `kill`) and Ctrl+C close the window as its close button does:
    state saved, the caption worker stopped, the database closed."""
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: QTimer.singleShot(0, app.closeAllWindows))
    # Python runs signal handlers between bytecodes only; a periodic no-op lets it in
    # while Qt's loop waits in C.
    ticker = QTimer(app, interval=SIGNAL_POLL_MS)
    ticker.timeout.connect(lambda: None)
    ticker.start()


def _display_available() -> bool:
    """Qt aborts the process when it cannot reach a display; say why instead."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def apply_look(app: QApplication, data_dir: DataDir) -> None:
    """Fusion everywhere (the same look on every platform, and it follows the palette),
    in the theme chosen in Settings: light, dark, or the system's."""
    app.setWindowIcon(QIcon(str(APP_ICON)))
    apply_theme(app, stored_theme(data_dir))
