"""The details panel's wording: sizes, clocks, dates and provenance."""

from __future__ import annotations

import time

from app.core.item_details import Version
from app.ui.details.text import clock_text, date_text, exif_rows, provenance_text, size_text

STAMP = time.mktime((2026, 11, 22, 10, 4, 0, 0, 0, -1))  # local time


def version(source: str, **made_by: str | None) -> Version:
    fields = {"model_id": None, "prompt_id": None, "adapter_id": None} | made_by
    return Version(1, "words", (), "en", source, created_at=STAMP, **fields)  # type: ignore[arg-type]


def test_sizes_and_clocks() -> None:
    assert [size_text(n) for n in (0, 999, 1000, 41_300, 2_345_678, 5 * 10**12)] == [
        "0 bytes",
        "999 bytes",
        "1.0 KB",
        "41.3 KB",
        "2.3 MB",
        "5000.0 GB",
    ]
    assert [clock_text(s) for s in (0, 12.9, 65, 3723, -1)] == [
        "0:00",
        "0:12",
        "1:05",
        "1:02:03",
        "0:00",
    ]


def test_dates_and_exif_dates() -> None:
    assert date_text(STAMP) == "22 Nov 2026 10:04"
    assert date_text(STAMP, with_time=False) == "22 Nov 2026"
    assert exif_rows([("Taken", "2024:05:03 10:04:00"), ("ISO", "200"), ("Taken", "garbled")]) == [
        ("Taken", "3 May 2024 10:04"),
        ("ISO", "200"),
        ("Taken", "garbled"),
    ]


def test_provenance_names_who_and_what_made_a_caption() -> None:
    assert provenance_text(version("user")) == "By you · 22 Nov 2026 10:04"
    assert provenance_text(version("model", model_id="smolvlm-256m", prompt_id="short")) == (
        "AI · smolvlm-256m · prompt short · adapter — · 22 Nov 2026"
    )
    assert provenance_text(
        version("model", model_id="qwen2.5-vl-3b", prompt_id="detailed", adapter_id="mine-3")
    ) == ("AI · Qwen2.5-VL 3B · prompt detailed · adapter mine-3 · 22 Nov 2026")
    # A caption an inference server made names the server (issue 13).
    assert provenance_text(
        version("model", model_id="smolvlm-256m", prompt_id="short", server="gpu-box")
    ) == ("AI · smolvlm-256m · prompt short · adapter — · on gpu-box · 22 Nov 2026")
