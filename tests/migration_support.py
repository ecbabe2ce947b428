"""Helpers for the migration tests: running Alembic the way the app does."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine

from app.core.storage.db import WRITE_OPTION, alembic_config


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the library to `revision` in one write transaction, as the app
    upgrades it (Database marks its writes with WRITE_OPTION)."""
    cfg = alembic_config(engine)
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
