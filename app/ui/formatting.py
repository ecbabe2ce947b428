"""Numbers as people read them: clock times, durations, sizes, dates."""

from __future__ import annotations

import time


def clock(seconds: float | None) -> str:
    """0:07, 12:34, 1:02:03 ("" when unknown)."""
    if seconds is None:
        return ""
    total = int(round(max(seconds, 0.0)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def duration(seconds: float) -> str:
    """A rough time span: 45 s, 12 min, 3.5 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def size(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def date(epoch: float) -> str:
    return time.strftime("%d %b %Y %H:%M", time.localtime(epoch))
