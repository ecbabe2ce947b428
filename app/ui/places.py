"""Where folder choosers open: the user's Pictures folder, else their home."""

from __future__ import annotations

import os

from PySide6.QtCore import QStandardPaths


def start_folder() -> str:
    """The folder "Add folder…" dialogs open in (not the program's working folder)."""
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    if pictures and os.path.isdir(pictures):
        return pictures
    return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.HomeLocation)
