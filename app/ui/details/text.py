"""The words the details panel shows: sizes, durations, dates and provenance.

Plain functions (no Qt) so the wording is tested once and reads the same in every
part of the panel.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.core.item_details import ItemDetails, Version
from app.core.user_errors import caption_error
from app.ui.words import model_name

DASH = "—"
DOT = " · "


def size_text(size: int) -> str:
    """1 decimal from kilobytes up ("2.3 MB"), like a file manager (powers of 1000)."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def clock_text(seconds: float) -> str:
    """A position or duration: "0:12", "4:05", "1:02:03" (whole seconds, rounded down)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def date_text(stamp: float, *, with_time: bool = True) -> str:
    """ "22 Nov 2026 10:04" in local time (day first, no leading zero)."""
    local = time.localtime(stamp)
    day = f"{local.tm_mday} {time.strftime('%b %Y', local)}"
    return f"{day} {time.strftime('%H:%M', local)}" if with_time else day


def exif_rows(rows: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """EXIF's "2024:05:03 10:00:00" read as "3 May 2024 10:00"; other values as is."""
    shown = []
    for label, value in rows:
        try:
            taken = datetime.strptime(value.strip()[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            shown.append((label, value))
        else:
            shown.append((label, f"{taken.day} {taken:%b %Y %H:%M}"))
    return shown


def meta_text(details: ItemDetails) -> str:
    """ "2.3 MB · 4032 × 3024 · 0:42": what kind of file this is, at a glance."""
    parts = [size_text(details.size)]
    if details.width and details.height:
        parts.append(f"{details.width} × {details.height}")
    if details.kind == "video" and details.duration:
        parts.append(clock_text(details.duration))
    return DOT.join(parts)


def provenance_text(version: Version) -> str:
    """Who wrote a caption version, and how: the user, or which model, prompt and
    adapter (so a surprising caption can be traced to what made it)."""
    if version.by_user:
        return f"By you{DOT}{date_text(version.created_at)}"
    return DOT.join(
        (
            "AI",
            model_name(version.model_id) if version.model_id else "unknown model",
            f"prompt {version.prompt_id or DASH}",
            f"adapter {version.adapter_id or DASH}",
            *([f"on {version.server}"] if version.server else []),
            date_text(version.created_at, with_time=False),
        )
    )


def source_text(version: Version) -> str:
    """The short form for a history entry: "You · 22 Nov 2026 10:04" / "AI · model · date"."""
    if version.by_user:
        return f"You{DOT}{date_text(version.created_at)}"
    model = model_name(version.model_id) if version.model_id else "unknown model"
    return f"AI{DOT}{model}{DOT}{date_text(version.created_at)}"


@dataclass(frozen=True)
class Problem:
    """What the notice shows: a sentence, the raw error behind Details, and whether
    Retry can help."""

    sentence: str
    detail: str = ""
    retry: bool = False


def item_problem(details: ItemDetails, job_error: str | None = None) -> Problem | None:
    """Why this item has no (new) caption: the file's own problem first (nothing
    else can work until it is fixed), else a failed caption job; None if all is well."""
    if details.state == "removed":
        return Problem("Removed from the library (its captions are kept).")
    if details.state == "missing":
        return Problem("The file is missing: moved, deleted, or on a drive that is not connected.")
    if details.error or details.state == "error":
        return Problem(
            f"Captionist can't read this {details.kind}'s file.",
            details.error or "",
            retry=True,  # the user may have fixed the file: Retry reads it again
        )
    if job_error:
        explained = caption_error(job_error, details.kind)
        return Problem(explained.sentence, explained.detail, retry=True)
    return None
