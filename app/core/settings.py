"""Typed settings, declared in one place, stored in the library database.

Each setting has a name, a type and a default here; a stored value of the wrong
type (an older version, a hand edit) falls back to the default instead of crashing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert

from app.core.storage.db import Database
from app.core.storage.schema import Setting


@dataclass(frozen=True)
class SettingSpec:
    default: Any
    help: str

    def accepts(self, value: Any) -> bool:
        expected = type(self.default)
        if expected is float:
            return isinstance(value, int | float) and not isinstance(value, bool)
        return isinstance(value, expected)


SPECS: dict[str, SettingSpec] = {
    "auto_caption": SettingSpec(True, "Queue a caption job for new and changed files."),
    "skip_hidden": SettingSpec(True, "Skip hidden and system folders when scanning."),
    "keyframes_per_video": SettingSpec(8, "Most keyframes taken from one video."),
    "rescan_interval_s": SettingSpec(
        300.0, "Seconds between rescans of folders that cannot be watched."
    ),
}


class Settings:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str) -> Any:
        spec = SPECS[key]
        with self._db.read() as conn:
            value = conn.execute(select(Setting.value).where(Setting.key == key)).scalar()
        return value if value is not None and spec.accepts(value) else spec.default

    def set(self, key: str, value: Any) -> None:
        spec = SPECS[key]
        if not spec.accepts(value):
            raise TypeError(f"setting {key!r} takes {type(spec.default).__name__}")
        stmt = insert(Setting).values(key=key, value=value)
        with self._db.write() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
