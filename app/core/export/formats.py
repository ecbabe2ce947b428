"""How an exported caption becomes text, and where each file goes.

Conventions:
- `txt` / `caption` follow kohya's sd-scripts: one file per image with the image's
  name and the extension `.txt` or `.caption`, holding one line: an optional trigger
  word, then the caption, with the tags before or after it, joined by the separator.
- `jsonl` is Hugging Face `imagefolder`'s `metadata.jsonl`: one JSON object per image,
  `file_name` relative to the folder of the metadata file, `text` (composed as for
  txt), `tags` (a list).
- `csv`: one row per item, and one per captioned video moment (column `moment`, in
  seconds), with path, caption, tags, language, source ("AI" or "me"), model,
  adapter and date taken.
- `html`: `alt-text.html`, one `<img src alt>` line per photo (a `<video>` with an
  `aria-label` per video) to paste into a web page: `src` relative to the file's
  folder, `alt` the caption as alt text (app.core.alt_text: at most 125 characters).
- Video frames (`video_frames`, with txt, caption or jsonl under an output folder):
  each captioned moment of a video also becomes a JPEG, `<video name>_<seconds>s.jpg`,
  with the moment's caption (and the video's tags) as its caption: a training set
  from videos. The video keeps its own caption file or line.

File names that are not UTF-8 (Linux names are bytes): per-image files keep the
image's exact bytes. In jsonl and csv a name is written as its exact bytes (Python's
`surrogateescape`), so the line is valid UTF-8 except for those bytes; read the file
with `errors="surrogateescape"` and `os.fsencode` the name to open the image. When the
images are copied or linked into the output folder, the copies get UTF-8 names
(undecodable bytes become U+FFFD, clashes made unique), so the metadata is plain UTF-8.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Format(StrEnum):
    TXT = "txt"
    CAPTION = "caption"
    JSONL = "jsonl"
    CSV = "csv"
    HTML = "html"


class Which(StrEnum):
    CURRENT = "current"  # the current caption, the user's or the model's
    MINE = "mine"  # only the user's captions
    ACCEPTED = "accepted"  # the user's and the model captions the user accepted


class TagPlace(StrEnum):
    NONE = "none"
    AFTER = "after"
    BEFORE = "before"


class Images(StrEnum):
    """What happens to the images of a data set written under an output folder."""

    NONE = "none"
    COPY = "copy"
    LINK = "link"  # a hard link where possible, else a symbolic link


PER_IMAGE = (Format.TXT, Format.CAPTION)
JSONL_NAME = "metadata.jsonl"
CSV_NAME = "captions.csv"
HTML_NAME = "alt-text.html"
SINGLE_FILE_NAMES = {Format.JSONL: JSONL_NAME, Format.CSV: CSV_NAME, Format.HTML: HTML_NAME}
FRAME_FORMATS = (Format.TXT, Format.CAPTION, Format.JSONL)
HTML_HEADER = b"<!-- Alt text by Captionist: one tag per photo or video, to paste into a page -->\n"
CSV_COLUMNS = (
    "path",
    "moment",
    "caption",
    "tags",
    "language",
    "source",
    "model",
    "adapter",
    "taken_at",
)
SOURCE_WORDS = {"model": "AI", "user": "me"}
ENCODING_ERRORS = "surrogateescape"


@dataclass(frozen=True, slots=True)
class Composer:
    """A caption and its tags as one line of text."""

    tags: TagPlace = TagPlace.NONE
    separator: str = ", "
    trigger: str | None = None

    def __call__(self, caption: str, tags: Sequence[str]) -> str:
        parts = [self.trigger] if self.trigger else []
        text = " ".join(caption.split("\n")).strip()
        tagged = [t for t in tags if t]
        if self.tags is TagPlace.BEFORE:
            parts += [*tagged, text]
        elif self.tags is TagPlace.AFTER:
            parts += [text, *tagged]
        else:
            parts.append(text)
        return self.separator.join(p for p in parts if p)


def load_tags(raw: object) -> list[str]:
    """captions.tags as stored (JSON text) as a list of words."""
    if raw is None:
        return []
    value = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return [str(t) for t in value] if isinstance(value, list) else []


def per_image_text(composer: Composer, caption: str, tags: Sequence[str]) -> bytes:
    return (composer(caption, tags) + "\n").encode("utf-8")


def jsonl_line(file_name: str, text: str, tags: Sequence[str]) -> bytes:
    line = json.dumps(
        {"file_name": file_name, "text": text, "tags": list(tags)}, ensure_ascii=False
    )
    return (line + "\n").encode("utf-8", ENCODING_ERRORS)


class CsvRows:
    """CSV rows as bytes, through Python's csv module (quoting, newlines in captions)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def row(self, values: Sequence[object]) -> bytes:
        self._writer.writerow(["" if v is None else v for v in values])
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode("utf-8", ENCODING_ERRORS)


def frame_stem(video_stem: str, timestamp: float) -> str:
    """Where a video moment's frame goes, without extension: `clip_0012.50s`
    (zero-padded, so the frames of a video sort in time order)."""
    return f"{video_stem}_{timestamp:07.2f}s"


def relative_to_root(path: str, root: str) -> str:
    """The image's path under its library folder (its name alone if it is not under it)."""
    rel = os.path.relpath(path, root)
    return os.path.basename(path) if rel.startswith(os.pardir) else rel


def utf8_name(rel: str) -> str:
    """A relative path as UTF-8 text: undecodable bytes become U+FFFD."""
    return os.fsencode(rel).decode("utf-8", "replace")


class UniqueNames:
    """Names made unique within one export: `a.txt`, then `a (2).txt`, `a (3).txt`…
    (per-image formats key on the stem, so `a.jpg` and `a.png` get `a.txt` and
    `a (2).txt`)."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self.renamed = 0

    def unique(self, stem: str) -> str:
        """A unique path for `stem` (a path without its extension)."""
        candidate, n = stem, 1
        while candidate.casefold() in self._used:
            n += 1
            candidate = f"{stem} ({n})"
        if n > 1:
            self.renamed += 1
        self._used.add(candidate.casefold())
        return candidate

    def name(self, path: Path) -> Path:
        stem, suffix = os.path.splitext(os.fspath(path))
        return Path(self.unique(stem) + suffix)
