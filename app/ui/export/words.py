"""The export dialog's words: format names, what each scope covers, and the summary at
the end, worded like `captionist export` prints it so the CLI and the window agree."""

from __future__ import annotations

import os

from app.core.export.formats import Format, Images, TagPlace, Which
from app.core.export.run import ExportSummary
from app.core.gallery import VIEW_TITLES
from app.ui.words import counted

# Human names; a format added to the core later still shows, by its own value.
FORMAT_LABELS: dict[str, str] = {
    "txt": "Text file per image (.txt, kohya)",
    "caption": "Caption file per image (.caption, kohya)",
    "jsonl": "metadata.jsonl (Hugging Face imagefolder)",
    "csv": "CSV table",
    "html": "Alt text for the web (<img alt> tags, HTML)",
}
WHICH_LABELS: dict[str, str] = {
    Which.CURRENT: "The current caption (mine or the AI's)",
    Which.MINE: "Only captions I wrote",
    Which.ACCEPTED: "Captions I wrote or accepted",
}
TAG_LABELS: dict[str, str] = {
    TagPlace.NONE: "No tags",
    TagPlace.BEFORE: "Tags before the caption",
    TagPlace.AFTER: "Tags after the caption",
}
IMAGE_LABELS: dict[str, str] = {
    Images.NONE: "Leave the images where they are",
    Images.COPY: "Copy the images into the folder",
    Images.LINK: "Link the images into the folder",
}
SHOWN_PATHS = 5  # kept or failed files the summary lists by name


def format_label(fmt: Format) -> str:
    return FORMAT_LABELS.get(str(fmt), str(fmt))


def view_words(view: str, root_id: int | None, search: str) -> str:
    """What the gallery shows now: "Photos", "a folder", with "matching “beach”"."""
    if root_id is not None:
        what = "this folder"
    elif view == "all":
        what = "everything"
    else:
        what = VIEW_TITLES.get(view, view)
    return f"{what}, matching “{search.strip()}”" if search.strip() else what


def progress_words(done: int, total: int) -> str:
    return f"Exported {done} of {counted(total, 'item')}…" if total else "Reading captions…"


def summary_lines(s: ExportSummary) -> list[str]:
    """The summary: the first line says what happened, the others the details."""
    what = counted(s.exported, "caption")
    if s.cancelled:
        if s.files == 0 and s.output is None:
            nothing = "no captions were written" if s.images else "nothing was written"
            lines = [f"Export cancelled: {nothing}."]
        else:
            written = counted(s.files, "file")
            lines = [f"Export cancelled: the {written} written before it stopped stay."]
    elif s.output:
        lines = [f"Exported {what} to {shown(s.output)}."]
    elif s.exported == 0 and not s.kept and not s.failed:
        lines = ["Nothing to export: none of these items has a caption of that kind."]
    else:
        lines = [f"Exported {what} in {counted(s.files, 'file')}."]
    if s.moments:
        lines.append(f"{counted(s.moments, 'video moment')} among them.")
    if s.images:
        lines.append(f"{counted(s.images, 'image')} copied or linked.")
    if s.frames:
        lines.append(f"{counted(s.frames, 'video frame')} written as images.")
    if s.renamed:
        lines.append(f"{counted(s.renamed, 'name')} made unique (another file had it).")
    if s.kept:
        lines.append(f"Kept {counted(s.kept, 'existing file')}, not overwritten:")
        lines += [f"    {shown(p)}" for p in s.kept_paths[:SHOWN_PATHS]]
        if s.kept > SHOWN_PATHS:
            lines.append(f"    and {s.kept - SHOWN_PATHS} more")
    if s.failed:
        lines.append(f"Could not write {counted(len(s.failed), 'file')}:")
        lines += [f"    {shown(p)}: {reason}" for p, reason in s.failed[:SHOWN_PATHS]]
        if len(s.failed) > SHOWN_PATHS:
            lines.append(f"    and {len(s.failed) - SHOWN_PATHS} more")
    return lines


def shown(path: str) -> str:
    """A path as text a label can show: bytes that are not UTF-8 as U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")
