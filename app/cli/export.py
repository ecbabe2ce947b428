"""`captionist export`: captions as a training data set or a table (app.core.export).

    captionist export --format txt --out DIR [QUERY...]      kohya: DIR/<folder>/<name>.txt
    captionist export --format caption --beside [QUERY...]   <name>.caption beside each image
    captionist export --format jsonl --out DIR --copy-images  DIR/metadata.jsonl + images
    captionist export --format csv --out FILE.csv
    captionist export --format html --out DIR --view by_me    DIR/alt-text.html
    captionist export --format jsonl --out DIR --video-frames  videos' moments as JPEGs

QUERY is a search (the same syntax as `captionist search`); --view a gallery view and
--item the items you name (ids or paths); with none of these, the whole library.
Progress goes to stderr, the summary to stdout (with --json, one JSON object).
Exit codes: 0 done; 1 some files were kept (they exist: --overwrite) or could
not be written, or the output file exists; 2 unusable arguments; 130/143 interrupted
(a single output file is then not written; caption files already written stay).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from app.cli.output import (
    EXIT_FAILED,
    EXIT_USAGE,
    Interrupt,
    fail,
    item_id_of,
    json_path,
    print_json,
    shown,
)
from app.core.export.formats import FRAME_FORMATS, Format, Images, TagPlace, Which
from app.core.export.run import Export, ExportError, ExportOptions, ExportSummary
from app.core.export.selection import Selection
from app.core.gallery import GalleryQuery
from app.core.library.library import Library
from app.core.storage.gallery_sql import VIEWS
from app.core.text import counted

PROGRESS_EVERY_S = 0.5


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    export = sub.add_parser(
        "export",
        parents=[common],
        help="write captions as text files, metadata.jsonl or CSV",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    export.add_argument("query", nargs="*", metavar="QUERY", help="a search; default: everything")
    scope = export.add_mutually_exclusive_group()
    scope.add_argument("--view", choices=list(VIEWS), help="a gallery view instead of a search")
    scope.add_argument(
        "--item",
        action="append",
        metavar="ID_OR_PATH",
        help="export this item (repeatable): a selection",
    )
    export.add_argument("--format", required=True, choices=[str(f) for f in Format])
    export.add_argument(
        "--out", type=Path, metavar="PATH", help="output folder (or jsonl/csv file)"
    )
    export.add_argument(
        "--beside", action="store_true", help="txt/caption: write each file beside its image"
    )
    export.add_argument(
        "--which",
        choices=[str(w) for w in Which],
        default=str(Which.CURRENT),
        help="the current caption, only yours, or yours and the ones you accepted",
    )
    export.add_argument(
        "--include-review",
        action="store_true",
        help="with --which accepted: also model captions that need review",
    )
    export.add_argument(
        "--tags",
        choices=[str(t) for t in TagPlace],
        default=str(TagPlace.NONE),
        help="put the tags before or after the caption (txt, caption, jsonl text)",
    )
    export.add_argument("--separator", default=", ", help="between trigger, caption and tags")
    export.add_argument("--trigger", metavar="WORD", help="a trigger word written first")
    images = export.add_mutually_exclusive_group()
    images.add_argument(
        "--copy-images", action="store_true", help="copy the images into the output folder"
    )
    images.add_argument(
        "--link-images", action="store_true", help="link the images into the output folder"
    )
    export.add_argument(
        "--video-frames",
        action="store_true",
        help="also each captioned video moment as a JPEG with its caption (txt, caption, jsonl)",
    )
    export.add_argument("--overwrite", action="store_true", help="replace existing files")
    export.add_argument("--json", action="store_true", help="print the summary as JSON")


def _options(args: argparse.Namespace) -> ExportOptions | str:
    fmt = Format(args.format)
    per_image = fmt in (Format.TXT, Format.CAPTION)
    if args.beside and not per_image:
        return "--beside is for --format txt or caption"
    if args.beside and args.out is not None:
        return "give either --out or --beside, not both"
    if args.out is None and not args.beside:
        return "--out is required" + (" (or --beside)" if per_image else "")
    images = Images.COPY if args.copy_images else Images.LINK if args.link_images else Images.NONE
    if images is not Images.NONE and (args.beside or fmt not in FRAME_FORMATS):
        return "--copy-images and --link-images need --out and a txt, caption or jsonl export"
    if args.video_frames and (args.beside or fmt not in FRAME_FORMATS):
        return "--video-frames needs --out and a txt, caption or jsonl export"
    if args.include_review and args.which != Which.ACCEPTED:
        return "--include-review goes with --which accepted"
    return ExportOptions(
        format=fmt,
        out=args.out,
        beside=args.beside,
        which=Which(args.which),
        include_review=args.include_review,
        tags=TagPlace(args.tags),
        separator=args.separator,
        trigger=args.trigger or None,
        images=images,
        video_frames=args.video_frames,
        overwrite=args.overwrite,
    )


class _Progress:
    """`exported N of M` on stderr, at most twice a second (and once at the end)."""

    def __init__(self) -> None:
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        end = "\n" if done >= total or not self.tty else ""
        print(f"\rexport: {done} of {total}", end=end, file=sys.stderr, flush=True)


def cmd_export(library: Library, args: argparse.Namespace) -> int:
    options = _options(args)
    if isinstance(options, str):
        return fail(args, options, EXIT_USAGE)
    selection = _selection(library, args)
    if isinstance(selection, str):
        return fail(args, selection, EXIT_USAGE)
    interrupt = Interrupt()
    with interrupt.installed():
        try:
            summary = Export(
                library.db, selection, options, should_cancel=interrupt, progress=_Progress()
            ).run()
        except ExportError as exc:
            return fail(args, str(exc))
    _report(args, summary)
    if summary.cancelled:
        return interrupt.exit_code
    return EXIT_FAILED if summary.kept or summary.failed else 0


def _selection(library: Library, args: argparse.Namespace) -> Selection | str:
    """What to export: the search, the view or the named items (an error sentence for
    a named item that is not in the library)."""
    if (args.view or args.item) and args.query:
        return "give a search, --view or --item, not two of them"
    if args.view:
        return Selection.of_view(library.db, GalleryQuery(view=args.view))
    if args.item:
        ids: list[int] = []
        for given in args.item:
            item_id = item_id_of(library, given)
            if item_id is None:
                return f"{given}: not in the library"
            ids.append(item_id)
        return Selection.of_ids(ids)
    return Selection.of_query(library.db, " ".join(args.query))


def _report(args: argparse.Namespace, s: ExportSummary) -> None:
    if args.json:
        value: dict[str, Any] = {
            "format": s.format,
            "exported": s.exported,
            "moments": s.moments,
            "files": s.files,
            "images": s.images,
            "frames": s.frames,
            "renamed": s.renamed,
            "kept": s.kept,
            "kept_paths": [json_path(p) for p in s.kept_paths],
            "failed": [{**json_path(p), "error": reason} for p, reason in s.failed],
            "cancelled": s.cancelled,
            "output": json_path(s.output) if s.output else None,
        }
        print_json(value)
        return
    what = counted(s.exported, "caption")
    if s.cancelled:
        done = "nothing written" if s.output is None and s.files == 0 else f"{s.files} files kept"
        print(f"export interrupted: {done}")
    elif s.output:
        print(f"exported {what} to {shown(s.output)}")
    else:
        print(f"exported {what} in {counted(s.files, 'file')}")
    if s.moments:
        print(f"  {counted(s.moments, 'video moment')} among them")
    if s.images:
        print(f"  {counted(s.images, 'image')} copied or linked")
    if s.frames:
        print(f"  {counted(s.frames, 'video frame')} written as images")
    if s.renamed:
        print(f"  {counted(s.renamed, 'name')} made unique (another file had it)")
    if s.kept:
        print(f"  {counted(s.kept, 'existing file')} kept (--overwrite replaces them):")
        for path in s.kept_paths:
            print(f"    {shown(path)}")
    for path, reason in s.failed:
        print(f"  error: {shown(path)}: {reason}")
