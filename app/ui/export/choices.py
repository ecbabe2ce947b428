"""What the export dialog remembers between runs: the format, its options and where the
files went, kept with the window's other preferences in window.ini (the data folder's,
so --data-dir keeps runs apart). A stored value the app no longer knows (a format
removed, a hand-edited file) falls back to the default rather than failing the dialog."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from app.core.datadir import DataDir
from app.core.export.formats import Format, Images, TagPlace, Which
from app.ui.settings.appearance_page import window_settings

GROUP = "export"


@dataclass(frozen=True, slots=True)
class ExportChoices:
    format: Format = Format.TXT
    beside: bool = False  # per-image files next to the images, not under `out`
    out: str = ""  # the folder (or jsonl/csv file) last written to
    which: Which = Which.CURRENT
    include_review: bool = False
    tags: TagPlace = TagPlace.NONE
    separator: str = ", "
    trigger: str = ""
    images: Images = Images.NONE
    video_frames: bool = False


def load_choices(data_dir: DataDir) -> ExportChoices:
    settings = window_settings(data_dir)
    defaults = ExportChoices()
    values: dict[str, Any] = {}
    for f in fields(ExportChoices):
        raw = settings.value(f"{GROUP}/{f.name}")
        if raw is None:
            continue
        default = getattr(defaults, f.name)
        try:
            if isinstance(default, StrEnum):
                values[f.name] = type(default)(str(raw))
            elif isinstance(default, bool):
                values[f.name] = str(raw).lower() in ("true", "1")  # IniFormat gives text
            else:
                values[f.name] = str(raw)
        except ValueError:  # a format or option this version does not have
            continue
    return ExportChoices(**values)


def save_choices(data_dir: DataDir, choices: ExportChoices) -> None:
    settings = window_settings(data_dir)
    for f in fields(ExportChoices):
        value = getattr(choices, f.name)
        settings.setValue(f"{GROUP}/{f.name}", str(value) if isinstance(value, StrEnum) else value)
    settings.sync()
