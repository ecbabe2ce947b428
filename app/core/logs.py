"""The log file: `<data dir>/logs/captionist.log`, rotated (1 MB × 5 old files).

The GUI and the command line set it up once at start (`setup_logging`); the command
line keeps printing its messages as before, the log gets the details (tracebacks,
warnings from the background). Warnings still reach stderr as they did when nothing was
configured (Python's `logging.lastResort`). A data folder that cannot be written does not
stop the app: it then logs to stderr only.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_FOLDER = "logs"
LOG_NAME = "captionist.log"
MAX_BYTES = 1_000_000
BACKUPS = 5
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

_installed: list[logging.Handler] = []


def log_folder(data_root: Path) -> Path:
    return data_root / LOG_FOLDER


def log_file(data_root: Path) -> Path:
    return log_folder(data_root) / LOG_NAME


def setup_logging(data_root: Path) -> Path | None:
    """Send the root logger to the rotating file under `data_root` (and warnings to
    stderr); the file's path, or None when it cannot be written. Calling it again
    replaces what an earlier call installed."""
    stop_logging()
    root = logging.getLogger()
    handlers: list[logging.Handler] = []
    if logging.lastResort is not None:  # what printed warnings before: keep it so
        handlers.append(logging.lastResort)
    path = log_file(data_root)
    file: logging.Handler | None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError:
        file = None
    if file is not None:
        file.setLevel(logging.INFO)
        file.setFormatter(logging.Formatter(FORMAT))
        handlers.append(file)
    for handler in handlers:
        root.addHandler(handler)
    _installed.extend(handlers)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    return path if file is not None else None


def stop_logging() -> None:
    """Remove (and close) what `setup_logging` installed."""
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
        if handler is not logging.lastResort:
            handler.close()
    _installed.clear()
