"""Export: round trips through each format's reader (Python's json and csv modules,
plain files for kohya), non-ASCII and non-UTF-8 names, clashing names, which caption,
and Cancel leaving no partial file.

Here the jsonl is read back as `imagefolder` reads it: one JSON object per line,
`file_name` relative to the metadata file's folder, and the image found there; Hugging
Face `datasets` itself loads an export in tests/core/test_export_web_video.py."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest

from app.core.captions import CaptionStore
from app.core.export.formats import Format, Images, TagPlace, Which
from app.core.export.run import Export, ExportError, ExportOptions
from app.core.export.selection import Selection
from app.core.storage.db import Database
from tests.caption_support import store_model_caption

ODD = b"caf\xe9-latin1.jpg"  # not UTF-8


def add_file(db: Database, root: Path, rel: bytes, kind: str = "photo") -> int:
    path = os.fsencode(root) + b"/" + rel
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"image bytes of " + rel)
    with db.write() as conn:
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO roots (path, enabled, added_at) VALUES (?, 1, 0)",
            (os.fsencode(root),),
        )
        root_id = conn.exec_driver_sql(
            "SELECT id FROM roots WHERE path = ?", (os.fsencode(root),)
        ).scalar_one()
        name = os.path.basename(rel).decode("utf-8", "replace")
        return conn.exec_driver_sql(
            """INSERT INTO media_items (root_id, path, name, folder, kind, size, mtime_ns,
                   added_at, state, taken_at)
               VALUES (?, ?, ?, 'f', ?, 1, 1, 0, 'ok', '2024-05-03T14:22:01')""",
            (root_id, path, name, kind),
        ).lastrowid


@pytest.fixture
def lib(db: Database, tmp_path: Path) -> tuple[Database, Path, dict[str, int]]:
    root = tmp_path / "lib"
    ids = {
        "plain": add_file(db, root, b"a/plain.jpg"),
        "clash_jpg": add_file(db, root, b"b/same.jpg"),
        "clash_png": add_file(db, root, b"b/same.png"),
        "odd": add_file(db, root, b"c/" + ODD),
        "mine": add_file(db, root, "d/été 東京.jpg".encode()),
        "none": add_file(db, root, b"d/uncaptioned.jpg"),
        "video": add_file(db, root, b"v/clip.mp4", "video"),
    }
    store = CaptionStore(db)
    store_model_caption(db, ids["plain"], "a plain photo", ["one", "two"], language="en")
    store_model_caption(db, ids["clash_jpg"], "the jpg", ["x"])
    store_model_caption(db, ids["clash_png"], "the png", [])
    store_model_caption(db, ids["odd"], 'ein Café, "quoted"\nline', ["ü"])
    store.add_user_caption(ids["mine"], "un été à 東京", ["voyage"])
    with db.write() as conn:
        keyframe = conn.exec_driver_sql(
            "INSERT INTO keyframes (item_id, timestamp) VALUES (?, 2.5)", (ids["video"],)
        ).lastrowid
    store_model_caption(db, ids["video"], "a clip", ["v"], moments={keyframe: "a moment"})
    store.accept([ids["clash_jpg"]])
    return db, root, ids


def run(db: Database, selection: Selection | None = None, **options: Any) -> Export:
    return Export(db, selection or Selection.whole_library(), ExportOptions(**options))


def test_txt_mirrored_kohya_files_with_tags_trigger_and_unique_names(lib, tmp_path: Path) -> None:
    db, root, ids = lib
    out = tmp_path / "out"
    summary = run(
        db, format=Format.TXT, out=out, tags=TagPlace.AFTER, trigger="sks", separator=", "
    ).run()
    assert summary.exported == 6 and summary.files == 6 and summary.renamed == 1
    assert (out / "a/plain.txt").read_text("utf-8") == "sks, a plain photo, one, two\n"
    same = {(out / "b/same.txt").read_text(), (out / "b/same (2).txt").read_text()}
    assert same == {"sks, the jpg, x\n", "sks, the png\n"}
    odd = os.fsencode(out) + b"/c/caf\xe9-latin1.txt"
    assert Path(os.fsdecode(odd)).read_bytes().decode() == 'sks, ein Café, "quoted" line, ü\n'
    assert (out / "d/été 東京.txt").read_text("utf-8") == "sks, un été à 東京, voyage\n"
    assert not (out / "d/uncaptioned.txt").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".captionist-part")]


def test_caption_files_beside_and_never_overwritten_without_asking(lib) -> None:
    db, root, ids = lib
    (root / "a/plain.caption").write_text("mine, keep me\n")
    summary = run(db, format=Format.CAPTION, beside=True, which=Which.MINE).run()
    assert summary.exported == 1 and (root / "d/été 東京.caption").read_text() == "un été à 東京\n"
    summary = run(db, format=Format.CAPTION, beside=True).run()
    assert summary.kept == 2  # plain.caption (the user's) and été 東京.caption
    assert (root / "a/plain.caption").read_text() == "mine, keep me\n"
    assert run(db, format=Format.CAPTION, beside=True, overwrite=True).run().kept == 0
    assert (root / "a/plain.caption").read_text() == "a plain photo\n"


def test_which_caption(lib) -> None:
    db, root, ids = lib
    out = root.parent / "w"
    accepted = run(db, format=Format.CSV, out=out / "a.csv", which=Which.ACCEPTED).run()
    assert accepted.exported == 2  # the user's and the accepted jpg
    review = run(
        db, format=Format.CSV, out=out / "r.csv", which=Which.ACCEPTED, include_review=True
    ).run()
    assert review.exported == 7  # 6 items and a video moment


def test_jsonl_round_trip_with_linked_images(lib, tmp_path: Path) -> None:
    db, root, ids = lib
    out = tmp_path / "set"
    summary = run(db, format=Format.JSONL, out=out, images=Images.LINK, tags=TagPlace.BEFORE).run()
    assert summary.exported == 6 and summary.images == 6 and summary.output
    raw = (out / "metadata.jsonl").read_bytes()
    rows = [json.loads(line) for line in raw.decode("utf-8").splitlines()]  # plain UTF-8
    by_text = {r["text"]: r for r in rows}
    assert by_text["one, two, a plain photo"]["tags"] == ["one", "two"]
    for r in rows:
        image = out / r["file_name"]
        assert image.is_file() and not r["file_name"].startswith("..")
    names = sorted(r["file_name"] for r in rows)
    assert "c/caf\ufffd-latin1.jpg" in names and "d/été 東京.jpg" in names
    assert (out / by_text["voyage, un été à 東京"]["file_name"]).read_bytes().startswith(b"image")


def test_jsonl_in_place_keeps_exact_bytes_of_undecodable_names(lib, tmp_path: Path) -> None:
    db, root, ids = lib
    target = tmp_path / "m.jsonl"
    run(db, Selection.of_ids([ids["odd"], ids["plain"]]), format=Format.JSONL, out=target).run()
    lines = target.read_text("utf-8", errors="surrogateescape").splitlines()
    first = json.loads(lines[0])
    image = os.fsencode(tmp_path / first["file_name"])
    assert Path(os.fsdecode(image)).read_bytes() == b"image bytes of c/" + ODD
    assert json.loads(lines[1])["text"] == "a plain photo"
    with pytest.raises(ExportError):
        run(db, format=Format.JSONL, out=target).run()


def test_csv_round_trip_with_moments(lib, tmp_path: Path) -> None:
    db, root, ids = lib
    target = tmp_path / "t.csv"
    summary = run(db, format=Format.CSV, out=target).run()
    assert summary.exported == 7 and summary.moments == 1
    with open(target, newline="", encoding="utf-8", errors="surrogateescape") as f:
        rows = list(csv.DictReader(f))
    by_caption = {r["caption"]: r for r in rows}
    odd = by_caption['ein Café, "quoted"\nline']
    assert os.fsencode(odd["path"]).endswith(b"/" + ODD) and odd["tags"] == "ü"
    assert by_caption["a plain photo"]["language"] == "en"
    assert by_caption["a plain photo"]["source"] == "AI"
    assert by_caption["un été à 東京"]["source"] == "me"
    assert by_caption["a moment"]["moment"] == "2.500"
    assert by_caption["a moment"]["path"] == by_caption["a clip"]["path"]
    assert by_caption["a clip"]["taken_at"] == "2024-05-03T14:22:01"


@pytest.mark.parametrize("fmt", [Format.JSONL, Format.CSV])
def test_cancelled_single_file_export_leaves_no_file(lib, tmp_path: Path, fmt: Format) -> None:
    db, root, ids = lib
    calls = iter(range(100))
    export = Export(
        db,
        Selection.whole_library(),
        ExportOptions(format=fmt, out=tmp_path / "o"),
        should_cancel=lambda: next(calls) >= 3,
    )
    summary = export.run()
    assert summary.cancelled and summary.exported == 0 and summary.output is None
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_cancelled_per_image_export_leaves_only_whole_files(lib, tmp_path: Path) -> None:
    db, root, ids = lib
    calls = iter(range(100))
    seen: list[tuple[int, int]] = []
    summary = Export(
        db,
        Selection.whole_library(),
        ExportOptions(format=Format.TXT, out=tmp_path / "o"),
        should_cancel=lambda: next(calls) >= 2,
        progress=lambda done, total: seen.append((done, total)),
    ).run()
    files = [p for p in (tmp_path / "o").rglob("*") if p.is_file()]
    assert summary.cancelled and summary.files == 2 == len(files)
    assert all(p.suffix == ".txt" and p.read_text().endswith("\n") for p in files)
    assert seen[0] == (0, 6)


def test_selection_of_a_search(lib, tmp_path: Path) -> None:
    db, root, ids = lib
    selection = Selection.of_query(db, "plain OR 東京")
    assert set(selection.item_ids or ()) == {ids["plain"], ids["mine"]}
    summary = run(db, selection, format=Format.TXT, out=tmp_path / "s").run()
    assert summary.exported == 2
