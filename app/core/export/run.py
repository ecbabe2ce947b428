"""The export runner: reads the chosen captions in batches and writes them, with
progress, Cancel and a summary.

Every file is written whole or not at all: its bytes go to a temporary file beside it
that `os.replace` puts in place. A single-file format (jsonl, csv) is all-or-nothing:
Cancel deletes its temporary file, and an existing output file is kept unless
`overwrite`. Per-image files (txt, caption, copied images) stop between two files on
Cancel; those written stay and the summary counts them. An existing file is never
replaced unless `overwrite`: it is kept and counted (`kept`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from app.core.alt_text import alt_text, img_tag, video_tag
from app.core.export.formats import (
    CSV_COLUMNS,
    ENCODING_ERRORS,
    FRAME_FORMATS,
    HTML_HEADER,
    PER_IMAGE,
    SINGLE_FILE_NAMES,
    SOURCE_WORDS,
    Composer,
    CsvRows,
    Format,
    Images,
    TagPlace,
    UniqueNames,
    Which,
    frame_stem,
    jsonl_line,
    load_tags,
    per_image_text,
    relative_to_root,
    utf8_name,
)
from app.core.export.selection import Selection
from app.core.media.errors import MediaError
from app.core.media.photo import encode_jpeg
from app.core.media.video import frames_at
from app.core.storage.db import AnyRow, Database
from app.core.storage.export_rows import count_rows, export_rows, moment_rows

TEMP_SUFFIX = ".captionist-part"
FRAME_JPEG_QUALITY = 95  # a training set wants the frame, not compression artefacts
SHOWN_PATHS = 20
_NEW_FILE = (
    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
)  # how many kept or failed paths a summary lists


class ExportError(Exception):
    """The export cannot start (a sentence for the user)."""


@dataclass(frozen=True, slots=True)
class ExportOptions:
    format: Format
    out: Path | None = None  # a folder (or, for jsonl/csv, a file); None with `beside`
    beside: bool = False  # per-image files next to the images
    which: Which = Which.CURRENT
    include_review: bool = False
    tags: TagPlace = TagPlace.NONE
    separator: str = ", "
    trigger: str | None = None
    images: Images = Images.NONE
    video_frames: bool = False  # also each captioned video moment as a JPEG (formats.py)
    overwrite: bool = False


@dataclass(slots=True)
class ExportSummary:
    format: str
    exported: int = 0  # captions written (items; plus moments for csv)
    moments: int = 0  # of which video moments (csv)
    files: int = 0  # files written (caption files or the one output file)
    images: int = 0  # images copied or linked
    frames: int = 0  # video moments written as images
    renamed: int = 0  # names made unique
    kept: int = 0  # existing files left alone (no overwrite)
    kept_paths: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    cancelled: bool = False
    output: str | None = None  # the single output file (jsonl, csv, html)


Progress = Callable[[int, int], None]
ShouldCancel = Callable[[], bool]


def _never() -> bool:
    return False


def _silent(_done: int, _total: int) -> None:
    return None


class Export:
    def __init__(
        self,
        db: Database,
        selection: Selection,
        options: ExportOptions,
        *,
        should_cancel: ShouldCancel = _never,
        progress: Progress = _silent,
    ) -> None:
        if options.format in PER_IMAGE and not options.beside and options.out is None:
            raise ExportError("say where to write the caption files, or write them beside")
        if options.format not in PER_IMAGE and options.out is None:
            raise ExportError(f"say where to write the {options.format} file")
        if options.images is not Images.NONE and (
            options.format not in FRAME_FORMATS or options.beside
        ):
            raise ExportError(
                "images are copied or linked under an output folder, with txt, caption or jsonl"
            )
        if options.video_frames and (options.format not in FRAME_FORMATS or options.beside):
            raise ExportError(
                "video frames are written under an output folder, with txt, caption or jsonl"
            )
        self.db, self.selection, self.options = db, selection, options
        self.should_cancel, self.progress = should_cancel, progress
        self.composer = Composer(options.tags, options.separator, options.trigger)
        self.names = UniqueNames()
        self.summary = ExportSummary(str(options.format))

    # -- entry point -------------------------------------------------------------------
    def run(self) -> ExportSummary:
        if self.options.format in PER_IMAGE:
            self._per_image()
        else:
            self._single_file()
        self.summary.renamed = self.names.renamed
        return self.summary

    def output_file(self) -> Path:
        """Where a jsonl, csv or html export writes: the given file, or its usual name
        in the given folder."""
        out = self.options.out
        assert out is not None
        if out.suffix.lower() == "." + str(self.options.format) and not out.is_dir():
            return out
        return out / SINGLE_FILE_NAMES[self.options.format]

    # -- reading -----------------------------------------------------------------------
    def _batches(self) -> Iterator[tuple[list[AnyRow], dict[int, list[AnyRow]]]]:
        """Batches of caption rows, with the moments of their videos for csv."""
        ids = self.selection.item_ids
        which, review = str(self.options.which), self.options.include_review
        with self.db.read() as conn:
            total = len(ids) if ids is not None else count_rows(conn, which, review)
            done = 0
            self.progress(0, total)
            for looked_at, batch in export_rows(conn, ids, which, review):
                moments: dict[int, list[AnyRow]] = {}
                videos = [row[0] for row in batch if row[3] == "video"]
                if (self.options.format is Format.CSV or self.options.video_frames) and videos:
                    for moment in moment_rows(conn, videos):
                        moments.setdefault(moment[0], []).append(moment)
                yield batch, moments
                if self.summary.cancelled:
                    return
                done = min(total, done + looked_at)
                self.progress(done, total)

    # -- txt / caption -------------------------------------------------------------------
    def _per_image(self) -> None:
        opts = self.options
        extension = "." + str(opts.format)
        out = None if opts.beside or opts.out is None else os.fspath(opts.out)
        copy = out is not None and opts.images is not Images.NONE
        for batch, moments in self._batches():
            for row in batch:
                if self.should_cancel():
                    self.summary.cancelled = True
                    return
                path = os.fsdecode(row[1])
                stem, suffix = os.path.splitext(path)
                if out is not None:
                    rel = relative_to_root(path, os.fsdecode(row[2]))
                    stem = os.path.join(out, os.path.splitext(utf8_name(rel) if copy else rel)[0])
                stem = self.names.unique(stem)
                if copy:
                    self._place_image(Path(path), Path(stem + suffix))
                tags = load_tags(row[6])
                if self._write_file(stem + extension, per_image_text(self.composer, row[5], tags)):
                    self.summary.exported += 1
                for frame, text in self._video_frames(row, stem, moments.get(row[0], ())):
                    data = per_image_text(self.composer, text, tags)
                    if self._write_file(os.path.splitext(frame)[0] + extension, data):
                        self.summary.exported += 1

    def _write_file(self, target: str, data: bytes) -> bool:
        if not self.options.overwrite and os.path.lexists(target):
            self._kept(target)
            return False
        temp = target + TEMP_SUFFIX
        try:
            try:
                fd = os.open(temp, _NEW_FILE, 0o666)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                fd = os.open(temp, _NEW_FILE, 0o666)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(temp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            self._failed(target, exc)
            return False
        self.summary.files += 1
        return True

    def _place_image(self, image: Path, target: Path) -> str | None:
        """Copy or link the image to `target`; its path, or None if it was not placed."""
        if not self.options.overwrite and os.path.lexists(target):
            self._kept(target)
            return os.fsdecode(target)
        temp = target.with_name(target.name + TEMP_SUFFIX)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            if self.options.images is Images.LINK:
                try:
                    os.link(image, temp)
                except OSError:  # another file system, or links not allowed
                    os.symlink(os.path.abspath(image), temp)
            else:
                shutil.copy2(image, temp)
            os.replace(temp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            self._failed(target, exc)
            return None
        self.summary.images += 1
        return os.fsdecode(target)

    def _video_frames(
        self, row: AnyRow, video_stem: str, moments: Sequence[AnyRow]
    ) -> Iterator[tuple[str, str]]:
        """(frame image path, moment caption) for each captioned moment of a video
        row, its JPEG written (or an existing one kept) first. Nothing for a photo, or
        unless the export asked for video frames."""
        if not self.options.video_frames or row[3] != "video" or not moments:
            return
        planned = [(m, self.names.unique(frame_stem(video_stem, m[1])) + ".jpg") for m in moments]
        todo = {t for _m, t in planned if self.options.overwrite or not os.path.lexists(t)}
        times = [m[1] for m, t in planned if t in todo]
        try:
            images = {k.timestamp: k.image for k in frames_at(row[1], times)} if times else {}
        except MediaError as exc:
            self._failed(os.fsdecode(row[1]), str(exc))
            return
        for moment, target in planned:
            if target not in todo:
                self._kept(target)
            elif (image := images.get(moment[1])) is None:
                self._failed(target, f"the frame at {moment[1]:.2f} s does not decode")
                continue
            elif self._write_file(target, encode_jpeg(image, FRAME_JPEG_QUALITY)):
                self.summary.frames += 1
            else:
                continue
            yield target, moment[2]

    def _kept(self, target: str | Path) -> None:
        self.summary.kept += 1
        if len(self.summary.kept_paths) < SHOWN_PATHS:
            self.summary.kept_paths.append(os.fsdecode(target))

    def _failed(self, target: str | Path, why: OSError | str) -> None:
        if len(self.summary.failed) < SHOWN_PATHS:
            reason = why if isinstance(why, str) else why.strerror or str(why)
            self.summary.failed.append((os.fsdecode(target), reason))

    # -- jsonl / csv ---------------------------------------------------------------------
    def _single_file(self) -> None:
        target = self.output_file()
        if not self.options.overwrite and os.path.lexists(target):
            raise ExportError(f"{os.fsdecode(target)} exists (export again to overwrite it)")
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(target.name + TEMP_SUFFIX)
        try:
            with open(temp, "wb") as handle:
                if self.options.format is Format.JSONL:
                    self._jsonl(handle, target.parent)
                elif self.options.format is Format.HTML:
                    self._html(handle, target.parent)
                else:
                    self._csv(handle)
            if self.summary.cancelled:
                os.unlink(temp)
                self.summary.exported = self.summary.moments = 0
                return
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self.summary.files = 1
        self.summary.output = os.fsdecode(target)

    def _jsonl(self, handle: BinaryIO, folder: Path) -> None:
        opts = self.options
        lines: list[bytes] = []
        relative = _RelativePaths(folder)
        for batch, moments in self._batches():
            for row in batch:
                if self.should_cancel():
                    self.summary.cancelled = True
                    return
                path, root = os.fsdecode(row[1]), os.fsdecode(row[2])
                if opts.images is Images.NONE:
                    file_name = relative(path)
                else:
                    rel = utf8_name(relative_to_root(path, root))
                    target = self.names.name(folder / rel)
                    if self._place_image(Path(path), target) is None:
                        continue
                    file_name = os.path.relpath(target, folder)
                tags = load_tags(row[6])
                text = self.composer(row[5], tags)
                lines.append(jsonl_line(file_name.replace(os.sep, "/"), text, tags))
                self.summary.exported += 1
                if row[0] in moments:  # a video whose moments become frames
                    self._jsonl_frames(lines, row, folder, moments[row[0]], tags)
            handle.write(b"".join(lines))
            lines.clear()

    def _jsonl_frames(
        self,
        lines: list[bytes],
        row: AnyRow,
        folder: Path,
        moments: Sequence[AnyRow],
        tags: list[str],
    ) -> None:
        # Frames get UTF-8 names, like copied images: the metadata stays UTF-8.
        rel = utf8_name(relative_to_root(os.fsdecode(row[1]), os.fsdecode(row[2])))
        stem = os.path.join(folder, os.path.splitext(rel)[0])
        for frame, text in self._video_frames(row, stem, moments):
            name = os.path.relpath(frame, folder).replace(os.sep, "/")
            lines.append(jsonl_line(name, self.composer(text, tags), tags))
            self.summary.exported += 1

    def _html(self, handle: BinaryIO, folder: Path) -> None:
        relative = _RelativePaths(folder)
        handle.write(HTML_HEADER)
        for batch, _ in self._batches():
            out: list[bytes] = []
            for row in batch:
                if self.should_cancel():
                    self.summary.cancelled = True
                    return
                src = relative(os.fsdecode(row[1])).replace(os.sep, "/")
                alt = alt_text(row[5])
                tag = (
                    video_tag(src, alt)
                    if row[3] == "video"
                    else img_tag(src, alt, row[11], row[12])
                )
                out.append((tag + "\n").encode("utf-8", ENCODING_ERRORS))
                self.summary.exported += 1
            handle.write(b"".join(out))

    def _csv(self, handle: BinaryIO) -> None:
        rows = CsvRows()
        handle.write(rows.row(CSV_COLUMNS))
        for batch, moments in self._batches():
            out: list[bytes] = []
            for row in batch:
                if self.should_cancel():
                    self.summary.cancelled = True
                    return
                path = os.fsdecode(row[1])
                out.append(rows.row(self._csv_values(path, None, tuple(row[5:11]), row[4])))
                self.summary.exported += 1
                for moment in moments.get(row[0], ()):
                    out.append(
                        rows.row(self._csv_values(path, moment[1], tuple(moment[2:8]), row[4]))
                    )
                    self.summary.exported += 1
                    self.summary.moments += 1
            handle.write(b"".join(out))

    @staticmethod
    def _csv_values(
        path: str, moment: float | None, caption: tuple[object, ...], taken_at: str | None
    ) -> list[object]:
        text, tags, language, source, model, adapter = caption
        return [
            path,
            "" if moment is None else f"{moment:.3f}",
            text,
            ", ".join(load_tags(tags)),
            language,
            SOURCE_WORDS.get(str(source), source),
            model,
            adapter,
            taken_at,
        ]


class _RelativePaths:
    """Paths relative to an output folder, with os.path.relpath computed once per
    folder of images rather than once per image (it dominated a 100k jsonl export)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._dirs: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        parent, base = os.path.split(path)
        if (rel_dir := self._dirs.get(parent)) is None:
            rel_dir = self._dirs[parent] = os.path.relpath(parent, self.folder)
        return os.path.join(rel_dir, base)
