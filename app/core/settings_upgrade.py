"""Versioned settings: upgrade steps run once when a library is opened.

Picard's `config_upgrade` is the model. The settings table stores a version
(`VERSION_KEY`); `UPGRADES[n]` takes the stored values from version n to n + 1 (rename
a key, turn an old bool into an enum word...). Opening a library runs the steps it has
not seen yet, then replaces what still cannot be read by the defaults, all in one write
transaction: a library is either upgraded completely or left as it was.

No setting has changed shape since versioning began, so the list is empty: the first
change of a stored setting appends its step here, with a test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, delete

from app.core.settings import Settings, forget_unreadable, read_stored, store, values_from
from app.core.storage.db import Database
from app.core.storage.schema import Setting

log = logging.getLogger(__name__)

VERSION_KEY = "settings_version"  # beside the settings in their table; not a setting

StoredSettings = dict[str, Any]  # key -> stored JSON value, as in the settings table
UpgradeStep = Callable[[StoredSettings], None]  # changes the values in place

UPGRADES: tuple[UpgradeStep, ...] = ()


def stored_version(stored: StoredSettings) -> int:
    """The version the stored values are at: 0 for a library from before versioning."""
    version = stored.get(VERSION_KEY)
    return version if isinstance(version, int) and not isinstance(version, bool) else 0


def upgrade_stored(stored: StoredSettings, steps: Sequence[UpgradeStep] = UPGRADES) -> None:
    """Run the steps `stored` has not seen, in order, and record the new version. Values
    from a newer Captionist (a higher version) are left as they are."""
    version = stored_version(stored)
    if version > len(steps):
        log.info("settings are at version %d, newer than this Captionist's %d", version, len(steps))
        return
    for number in range(version, len(steps)):
        steps[number](stored)
        log.info("settings upgraded from version %d to %d", number, number + 1)
    stored[VERSION_KEY] = max(version, len(steps))


def open_settings(db: Database, steps: Sequence[UpgradeStep] = UPGRADES) -> Settings:
    """The library's settings, upgraded and checked: call once when a library is opened.
    Unreadable values are logged and listed in the returned `Settings.problems()`."""
    settings = Settings(db)
    with db.read() as conn:  # most opens have nothing to do: no write lock for them
        stored = read_stored(conn)
    up_to_date = VERSION_KEY in stored and stored_version(stored) >= len(steps)
    if up_to_date and not values_from(stored)[1]:
        return settings
    with db.write() as conn:
        before = read_stored(conn)
        after = dict(before)
        upgrade_stored(after, steps)
        _write_changes(conn, before, after)
        _values, problems = values_from(after)
        forget_unreadable(conn, problems)
    settings.note_problems(problems)
    return settings


def _write_changes(conn: Connection, before: StoredSettings, after: StoredSettings) -> None:
    gone = [key for key in before if key not in after]
    if gone:
        conn.execute(delete(Setting).where(Setting.key.in_(gone)))
    for key, value in after.items():
        if key not in before or before[key] != value:
            store(conn, key, value)
