"""Shared fixtures: a real library database in a temporary data directory."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.core.datadir import DataDir  # noqa: E402
from app.core.library.library import Library  # noqa: E402
from app.core.logs import stop_logging  # noqa: E402
from app.core.storage.db import Database  # noqa: E402
from tests.finetune_fixtures import trained_library  # noqa: E402, F401 (one training per session)


@pytest.fixture(autouse=True)
def no_leftover_log_file() -> Iterator[None]:
    """The CLI and the GUI set up the log file (app.core.logs) when they start; a test
    that starts them in this process leaves the root logger as it found it."""
    level = logging.getLogger().level
    yield
    stop_logging()
    logging.getLogger().setLevel(level)


@pytest.fixture
def data_dir(tmp_path: Path) -> DataDir:
    return DataDir.resolve(tmp_path / "data")


@pytest.fixture
def db(data_dir: DataDir) -> Iterator[Database]:
    database = Database(data_dir.database)
    yield database
    database.close()


@pytest.fixture
def library(db: Database) -> Library:
    return Library(db)


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    return folder
