"""Writing items' current captions out as XMP, as the "metadata_write" setting says.

Called after a caption is stored (the worker), after the user's edits (the edit lane)
and for "Write metadata now". The current caption is written, so the user's words win
over the model's here too. An embedded write changes the file: its new size, date and
fingerprint are recorded before the new file replaces the old one, so the scanner and
the watcher see it as unchanged (not as a changed photo to caption again).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.core.captions import USER
from app.core.library.fingerprint import fingerprint
from app.core.metadata import xmp
from app.core.metadata.language import language_tag
from app.core.settings import MetadataWrite, Settings
from app.core.storage.caption_rows import current_caption_rows
from app.core.storage.db import Database
from app.core.storage.item_rows import record_file
from app.core.text import counted


@dataclass
class WriteReport:
    written: dict[int, Path] = field(default_factory=dict)  # item id → file written
    errors: dict[int, str] = field(default_factory=dict)  # item id → "name: why"
    uncaptioned: int = 0

    def summary(self) -> str:
        text = f"Wrote captions to {counted(len(self.written), 'file')}"
        if self.uncaptioned:
            text += f"; {self.uncaptioned} without a caption yet"
        if self.errors:
            text += f"; {len(self.errors)} could not be written"
        return text


@dataclass(frozen=True, slots=True)
class _Current:
    item_id: int
    path: bytes
    kind: str
    text: str
    tags: list[str]
    language: str | None
    source: str
    model_id: str | None
    prompt_id: str | None
    adapter_id: str | None


def write_mode(db: Database) -> MetadataWrite:
    return Settings(db).read().metadata_write


def write_metadata(db: Database, item_ids: Sequence[int], mode: str | None = None) -> WriteReport:
    """Write the current caption of each item ("off": nothing). Never raises for one
    file: each failure is reported with its reason and the others go on."""
    mode = mode or write_mode(db)
    report = WriteReport()
    if mode == "off" or not item_ids:
        return report
    rows = _current_captions(db, item_ids)
    report.uncaptioned = len(set(item_ids) - {r.item_id for r in rows})
    for row in rows:
        path = Path(os.fsdecode(row.path))
        fields = xmp.fields_for(
            row.text,
            row.tags,
            language=language_tag(row.language),
            by_user=row.source == USER,
            model=row.model_id,
            prompt=row.prompt_id,
            adapter=row.adapter_id,
        )
        if not path.is_file():  # a sidecar for nothing would only confuse other apps
            report.errors[row.item_id] = f"{path.name}: the file is gone"
            continue
        try:
            if mode == "embed" and row.kind == "photo" and path.suffix.lower() in xmp.EMBEDDABLE:
                written = xmp.embed(path, fields, before_replace=_recorder(db, row.item_id))
            else:
                written = xmp.write_sidecar(path, fields)
        except xmp.MetadataError as exc:
            report.errors[row.item_id] = f"{path.name}: {exc}"
        else:
            report.written[row.item_id] = written
    return report


def _recorder(db: Database, item_id: int) -> Callable[[Path], None]:
    """Records the embedded file's new size, date and fingerprint in the library."""

    def record(staged: Path) -> None:
        stat = staged.stat()
        with db.write() as conn:
            record_file(conn, item_id, stat.st_size, stat.st_mtime_ns, fingerprint(str(staged)))

    return record


def _current_captions(db: Database, item_ids: Sequence[int]) -> list[_Current]:
    with db.read() as conn:
        return [
            _Current(row[0], row[1], row[2], row[3], json.loads(row[4] or "[]"), *row[5:])
            for row in current_caption_rows(conn, item_ids)
        ]
