"""The corrections table of the fine-tune screen: photos, videos and moment-only
corrections, exclusion kept across sessions, and a held-out split that stays put."""

from __future__ import annotations

from pathlib import Path

from app.core.captions import CaptionStore
from app.core.datadir import DataDir
from app.core.finetune.corrections import (
    KEEP_FOR_TRAINING,
    heldout_rank,
    list_training_corrections,
    set_excluded,
    split_heldout,
)
from app.core.media.thumbnails import thumbnail_path
from app.core.storage.db import Database
from tests.caption_support import store_model_caption


def add_item(db: Database, name: str, kind: str = "photo", state: str = "ok") -> int:
    with db.write() as conn:
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO roots (id, path, enabled, added_at) VALUES (1, ?, 1, 0)",
            (b"/lib",),
        )
        return conn.exec_driver_sql(
            """INSERT INTO media_items (root_id, path, name, folder, kind, size, mtime_ns,
                   added_at, state) VALUES (1, ?, ?, 'lib', ?, 10, 20, 0, ?)""",
            (b"/lib/" + name.encode(), name, kind, state),
        ).lastrowid


def add_keyframe(db: Database, item_id: int, timestamp: float, thumb: Path | None = None) -> int:
    with db.write() as conn:
        return conn.exec_driver_sql(
            "INSERT INTO keyframes (item_id, timestamp, thumbnail_path) VALUES (?, ?, ?)",
            (item_id, timestamp, bytes(thumb) if thumb else None),
        ).lastrowid


def model_caption(
    db: Database, item: int, text: str, moments: dict[int, str] | None = None
) -> None:
    """The worker's caption of an item (and of the video's `moments`)."""
    store_model_caption(
        db, item, text, ["m"], model_id="smolvlm2-256m", prompt_id="detailed", moments=moments
    )


def test_photos_videos_and_moment_only_corrections_are_listed(
    db: Database, data_dir: DataDir, tmp_path: Path
) -> None:
    store = CaptionStore(db)
    photo = add_item(db, "cat.jpg")
    video = add_item(db, "boat.mp4", "video")
    moments_only = add_item(db, "waves.mp4", "video")
    untouched = add_item(db, "tree.jpg")
    removed = add_item(db, "gone.jpg", state="removed")
    thumb = tmp_path / "kf.jpg"
    thumb.write_bytes(b"\xff\xd8 not decoded here")
    k_video = add_keyframe(db, video, 1.0)
    k_waves1 = add_keyframe(db, moments_only, 0.5, thumb)
    k_waves2 = add_keyframe(db, moments_only, 3.0)

    model_caption(db, photo, "a cat")
    store.add_user_caption(photo, "a tabby", ["cat"])
    store.add_user_caption(photo, "a tabby cat asleep", ["cat", "sleep"])
    model_caption(db, video, "a boat", {k_video: "a boat moves"})
    store.add_user_caption(video, "a red fishing boat", ["boat"])
    model_caption(db, moments_only, "water", {k_waves1: "sea", k_waves2: "sea again"})
    store.add_user_caption(moments_only, "a wave breaks on rocks", keyframe_id=k_waves1)
    store.add_user_caption(moments_only, "foam on the sand", keyframe_id=k_waves2)
    model_caption(db, untouched, "a tree")
    model_caption(db, removed, "a thing")
    store.add_user_caption(removed, "something removed")

    rows = list_training_corrections(db, holdout=0.0)

    assert [(r.item_id, r.keyframe_id) for r in rows] == [
        (photo, None),
        (video, None),
        (moments_only, k_waves1),
        (moments_only, k_waves2),
    ]
    cat = rows[0]
    assert (cat.model_caption, cat.user_caption) == ("a cat", "a tabby cat asleep")
    assert (cat.model_tags, cat.user_tags) == (("m",), ("cat", "sleep"))
    assert (cat.kind, cat.path, cat.prompt_id, cat.model_id) == (
        "photo",
        "/lib/cat.jpg",
        "detailed",
        "smolvlm2-256m",
    )
    assert cat.corrected_at > 0 and cat.timestamp is None
    wave = rows[2]
    assert (wave.kind, wave.timestamp, wave.model_caption) == ("video", 0.5, "sea")
    assert wave.thumbnail == str(thumb)
    assert rows[3].thumbnail is None  # no file on disk: the screen makes one
    # Both moment corrections of one video are one training example.
    assert rows[2].example_id == rows[3].example_id == f"item-{moments_only}"
    assert not any(r.excluded or r.heldout for r in rows)


def test_gallery_thumbnail_named_when_cached(db: Database, data_dir: DataDir) -> None:
    store = CaptionStore(db)
    photo = add_item(db, "cat.jpg")
    model_caption(db, photo, "a cat")
    store.add_user_caption(photo, "a tabby")
    cache = data_dir.thumbnails / "gallery"
    (row,) = list_training_corrections(db, gallery_thumbnails=cache)
    assert row.thumbnail is None
    cached = thumbnail_path(cache, "/lib/cat.jpg", 20, 10)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"jpeg")
    (row,) = list_training_corrections(db, gallery_thumbnails=cache)
    assert row.thumbnail == str(cached)


def test_exclusion_is_kept_across_sessions_and_can_be_undone(data_dir: DataDir) -> None:
    db = Database(data_dir.database)
    store = CaptionStore(db)
    items = [add_item(db, f"p{i}.jpg") for i in range(6)]
    for item in items:
        model_caption(db, item, "model words")
        store.add_user_caption(item, f"user words {item}")
    set_excluded(db, items[1], None, True)
    set_excluded(db, items[1], None, True)  # twice: still one mark
    db.close()

    db = Database(data_dir.database)
    try:
        rows = {r.item_id: r for r in list_training_corrections(db, holdout=0.5)}
        assert rows[items[1]].excluded and not rows[items[1]].heldout
        assert [i for i, r in rows.items() if r.excluded] == [items[1]]
        with db.read() as conn:
            marks = conn.exec_driver_sql("SELECT count(*) FROM finetune_exclusions").scalar_one()
        assert marks == 1
        set_excluded(db, items[1], None, False)
        assert not any(r.excluded for r in list_training_corrections(db))
    finally:
        db.close()


def test_a_moment_exclusion_is_its_own(db: Database) -> None:
    store = CaptionStore(db)
    video = add_item(db, "boat.mp4", "video")
    k1, k2 = add_keyframe(db, video, 1.0), add_keyframe(db, video, 2.0)
    model_caption(db, video, "m", {k1: "m", k2: "m"})
    for k in (k1, k2):
        store.add_user_caption(video, "u", keyframe_id=k)
    set_excluded(db, video, k1, True)
    rows = {r.keyframe_id: r.excluded for r in list_training_corrections(db)}
    assert rows == {k1: True, k2: False}


def test_split_is_deterministic_and_holds_out_the_share() -> None:
    first = list(range(1, 41))
    held_before = split_heldout(first, 0.25)
    assert held_before == split_heldout(reversed(first), 0.25)
    assert len(held_before) == 10
    assert held_before == set(sorted(first, key=heldout_rank)[:10])
    # Ids 1..10 at 20%: two held out (a rank threshold held out five).
    assert len(split_heldout(range(1, 11), 0.2)) == 2


def test_split_moves_few_items_when_corrections_are_added() -> None:
    held_before = split_heldout(range(1, 41), 0.25)
    held_after = split_heldout(range(1, 51), 0.25)
    assert len(held_after) == 12  # round(12.5) to even
    old_still_held = held_after & held_before
    assert len(old_still_held) >= len(held_before) - 2


def test_split_small_sets() -> None:
    few = list(range(1, 7))
    # A share too small for one item still holds out the lowest-ranked one ...
    assert split_heldout(few, 0.1) == {min(few, key=heldout_rank)}
    # ... but never so many that training falls below the minimum.
    assert split_heldout(few[:KEEP_FOR_TRAINING], 0.5, keep_training=KEEP_FOR_TRAINING) == set()
    assert len(split_heldout(few, 0.5, keep_training=KEEP_FOR_TRAINING)) == 2
    assert split_heldout(few, 0.0) == set()


def test_listing_marks_held_out_items(db: Database) -> None:
    store = CaptionStore(db)
    items = [add_item(db, f"p{i}.jpg") for i in range(12)]
    for item in items:
        model_caption(db, item, "model words")
        store.add_user_caption(item, "user words")
    rows = list_training_corrections(db, holdout=0.3)
    expected = split_heldout(items, 0.3, keep_training=KEEP_FOR_TRAINING)
    assert {r.item_id for r in rows if r.heldout} == expected
    assert expected
