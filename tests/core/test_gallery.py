"""Gallery views, rows, review marks, removal and item details on a real scanned library."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image

from app.core.captions import CaptionStore
from app.core.gallery import VIEWS, GalleryQuery, gallery_ids, gallery_rows, view_counts
from app.core.item_details import exif_summary, item_details
from app.core.jobs import JobQueue
from app.core.library.library import Library
from app.core.search import search
from app.core.storage.db import Database
from tests.caption_support import (
    insert_moment_caption_without_item_caption,
    store_model_caption,
)
from tests.core.scan_support import item_at
from tests.media_factory import write_photo, write_video


@pytest.fixture
def scanned(library: Library, photo_dir: Path) -> dict[str, int]:
    """Four photos and a video, probed, with caption jobs queued."""
    write_photo(photo_dir / "b_beach.jpg", "astronaut", exif_datetime="2024:05:03 10:00:00")
    write_photo(photo_dir / "a_cat.jpg", "chelsea", exif_datetime="2021:01:01 09:00:00")
    write_photo(photo_dir / "c_coffee.png", "coffee")
    write_photo(photo_dir / "d_rocket.jpg", "rocket", exif_datetime="2023:07:07 07:07:07")
    write_video(photo_dir / "e_clip.mp4")
    os.utime(photo_dir / "c_coffee.png", (0, time.mktime((2022, 6, 1, 0, 0, 0, 0, 0, -1))))
    root = library.add_root(photo_dir)
    library.scan(root.id)
    return {p.name: item_at(library.db, p).id for p in photo_dir.iterdir()}


def test_views_filter_by_kind_caption_source_review_and_errors(
    db: Database, library: Library, scanned: dict[str, int]
) -> None:
    store, queue = CaptionStore(db), JobQueue(db)
    beach, cat, coffee, rocket, clip = (scanned[n] for n in sorted(scanned))
    store_model_caption(db, beach, "a person in a suit", ["person"])
    store_model_caption(db, cat, "a cat on a sofa", ["cat"])
    store.add_user_caption(cat, "Chelsea the cat", ["cat", "pet"])
    store_model_caption(db, coffee, "a cup of coffee")
    store.accept([coffee])
    job = queue.claim_next()
    while job is not None and job.item_id != rocket:
        queue.release(job.id)
        queue.cancel([job.item_id])
        job = queue.claim_next()
    assert job is not None
    queue.finish(job.id, error="the model ran out of memory")

    def view(name: str) -> set[int]:
        return set(gallery_ids(db, GalleryQuery(view=name)))

    assert view("all") == set(scanned.values())
    assert view("photos") == {beach, cat, coffee, rocket}
    assert view("videos") == {clip}
    assert view("uncaptioned") == {rocket, clip}
    assert view("needs_review") == {beach}
    assert view("by_me") == {cat}
    assert view("errors") == {rocket}
    counts = view_counts(db)
    assert counts == {name: len(view(name)) for name in VIEWS}

    # A new model caption of an accepted item needs review again.
    store_model_caption(db, coffee, "an espresso")
    assert view("needs_review") == {beach, coffee}
    # The user's caption wins over a later model caption: not "needs review".
    store_model_caption(db, cat, "a tabby")
    assert cat not in view("needs_review") and cat in view("by_me")


def test_sorts_by_date_taken_with_file_time_fallback_name_and_added(
    db: Database, scanned: dict[str, int]
) -> None:
    newest_first = gallery_ids(db, GalleryQuery(sort="taken"))
    photos = [i for i in newest_first if i != scanned["e_clip.mp4"]]
    # The video was just written (file time now): newest. coffee has no EXIF date:
    # its file time (2022-06) puts it between 2023 and 2021.
    assert newest_first[0] == scanned["e_clip.mp4"]
    assert photos == [
        scanned[n] for n in ("b_beach.jpg", "d_rocket.jpg", "c_coffee.png", "a_cat.jpg")
    ]
    by_name = gallery_ids(db, GalleryQuery(sort="name", descending=False))
    assert by_name == [scanned[n] for n in sorted(scanned)]
    with db.read() as conn:
        added = conn.exec_driver_sql("SELECT id FROM media_items ORDER BY added_at, id").all()
    assert gallery_ids(db, GalleryQuery(sort="added", descending=False)) == [r[0] for r in added]
    with pytest.raises(ValueError):
        gallery_ids(db, GalleryQuery(sort="colour"))


def test_rows_carry_caption_provenance_and_job_state(db: Database, scanned: dict[str, int]) -> None:
    store = CaptionStore(db)
    beach = scanned["b_beach.jpg"]
    store_model_caption(db, beach, "a person", ["suit", "flag"], model_id="smolvlm")
    JobQueue(db).enqueue([beach])  # captioning finished its job: ask for another
    rows = gallery_rows(db, list(scanned.values()))
    row = rows[beach]
    assert (row.caption, row.tags, row.source, row.needs_review) == (
        "a person",
        ("suit", "flag"),
        "model",
        True,
    )
    assert row.job == "queued" and row.kind == "photo" and row.width and row.height
    assert rows[scanned["e_clip.mp4"]].duration and rows[scanned["e_clip.mp4"]].kind == "video"
    store.accept([beach])
    assert not gallery_rows(db, [beach])[beach].needs_review
    assert gallery_rows(db, []) == {}


def test_accept_is_undoable_and_ignores_user_captions(
    db: Database, scanned: dict[str, int]
) -> None:
    store = CaptionStore(db)
    beach, cat = scanned["b_beach.jpg"], scanned["a_cat.jpg"]
    store_model_caption(db, beach, "a person")
    store.add_user_caption(cat, "my cat")
    before = store.accept([beach, cat, scanned["d_rocket.jpg"]])
    assert before == {beach: None}
    assert store.accept([beach]) == {}  # already accepted
    store.set_reviewed(before)
    assert set(gallery_ids(db, GalleryQuery(view="needs_review"))) == {beach}


def test_restore_makes_an_old_version_current_and_keeps_history(
    db: Database, scanned: dict[str, int]
) -> None:
    store = CaptionStore(db)
    beach = scanned["b_beach.jpg"]
    first = store_model_caption(db, beach, "a person", ["person"])
    store.add_user_caption(beach, "an astronaut", ["space"])
    restored = store.restore(first.id)
    assert (restored.text, restored.tags, restored.source) == ("a person", ["person"], "user")
    assert [c.text for c in store.history(beach)] == ["a person", "an astronaut", "a person"]
    assert store.current(beach).id == restored.id
    with pytest.raises(KeyError):
        store.restore(10_000)


def test_removed_items_leave_views_and_search_and_survive_rescans(
    db: Database, library: Library, photo_dir: Path, scanned: dict[str, int]
) -> None:
    store = CaptionStore(db)
    beach = scanned["b_beach.jpg"]
    store_model_caption(db, beach, "a lighthouse keeper")
    JobQueue(db).enqueue([beach])  # captioning finished its job: an open one to cancel
    assert [h.item_id for h in search(db, "lighthouse")] == [beach]
    assert library.remove_items([beach]) == 1
    assert beach not in gallery_ids(db, GalleryQuery())
    assert search(db, "lighthouse") == []
    assert JobQueue(db).counts().get("cancelled", 0) >= 1
    assert library.status().items == len(scanned) - 1
    library.scan(library.roots()[0].id)  # unchanged file: stays removed
    assert beach not in gallery_ids(db, GalleryQuery())
    assert store.current(beach).text == "a lighthouse keeper"  # captions kept
    assert library.restore_items([beach]) == 1  # undo
    assert beach in gallery_ids(db, GalleryQuery())
    assert [h.item_id for h in search(db, "lighthouse")] == [beach]


def test_item_details_history_moments_and_exif(
    db: Database, photo_dir: Path, scanned: dict[str, int]
) -> None:
    store = CaptionStore(db)
    beach, clip = scanned["b_beach.jpg"], scanned["e_clip.mp4"]
    model = store_model_caption(
        db, beach, "a person", ["person"], model_id="smolvlm", prompt_id="short"
    )
    details = item_details(db, beach)
    assert details is not None and details.current == details.history[0]
    assert details.current.id == model.id and details.needs_review
    assert (details.current.model_id, details.current.prompt_id) == ("smolvlm", "short")
    assert dict(details.exif)["Taken"] == "2024:05:03 10:00:00"
    store.add_user_caption(beach, "an astronaut")
    store_model_caption(db, beach, "later model text")
    details = item_details(db, beach)
    assert details.current.text == "an astronaut" and not details.needs_review
    assert [v.text for v in details.history] == ["later model text", "an astronaut", "a person"]

    with db.write() as conn:
        kf = conn.exec_driver_sql(
            "INSERT INTO keyframes (item_id, timestamp, thumbnail_path) VALUES (?, 1.5, ?)",
            (clip, b"/thumbs/k.jpg"),
        ).lastrowid
        conn.exec_driver_sql("INSERT INTO keyframes (item_id, timestamp) VALUES (?, 0.0)", (clip,))
    # Not the worker's path (it always captions the whole item too): this checks that a
    # moment's caption alone leaves the item uncaptioned.
    insert_moment_caption_without_item_caption(db, clip, kf, "a square moves")
    video = item_details(db, clip)
    assert [(m.timestamp, m.caption, m.thumbnail) for m in video.moments] == [
        (0.0, None, None),
        (1.5, "a square moves", "/thumbs/k.jpg"),
    ]
    assert video.exif == () and video.current is None
    assert item_details(db, 10_000) is None


def test_exif_summary_reads_camera_exposure_and_place(tmp_path: Path) -> None:
    path = tmp_path / "gps.jpg"
    image = Image.new("RGB", (32, 32), "navy")
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS R5"
    sub = exif.get_ifd(0x8769)
    sub[0x829A], sub[0x829D], sub[0x8827], sub[0x920A] = 0.004, 2.8, 200, 35.0
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "S", (33.0, 51.0, 54.0), "E", (151.0, 12.0, 36.0)
    image.save(path, exif=exif.tobytes())
    summary = dict(exif_summary(str(path)))
    assert summary["Camera"] == "Canon EOS R5"
    assert summary["Exposure"] == "1/250 s"
    assert summary["Aperture"] == "f/2.8" and summary["ISO"] == "200"
    assert summary["Focal length"] == "35 mm"
    assert summary["Place"] == "-33.86500, 151.21000"
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert exif_summary(str(tmp_path / "empty.jpg")) == ()
