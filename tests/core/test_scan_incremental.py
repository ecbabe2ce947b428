"""Rescans: what changed on disk since the last scan, and what happens to the item rows,
their captions (and the user's words in particular) and caption jobs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.captions import CaptionStore
from app.core.library.library import Library
from app.core.library.reconcile import ScanReport
from app.core.library.roots import RootInfo
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.core.scan_support import (
    caption_count,
    copy_preserving,
    finish_all_jobs,
    fs,
    item_at,
    item_by_id,
    items,
    jobs_by_item,
    tiny_jpeg,
)
from tests.media_factory import write_photo, write_video


@dataclass
class Scanned:
    library: Library
    db: Database
    root: RootInfo
    folder: Path
    files: dict[str, Path]
    captions: CaptionStore

    def id(self, name: str) -> int:
        return item_at(self.db, self.files[name]).id

    def rescan(self) -> ScanReport:
        return self.library.scan(self.root.id)


@pytest.fixture
def scanned(library: Library, db: Database, photo_dir: Path) -> Scanned:
    """A scanned folder of photos and a video (all different sizes), caption jobs done."""
    files = {
        "a.jpg": write_photo(photo_dir / "a.jpg", "astronaut", size=(64, 64)),
        "b.png": write_photo(photo_dir / "b.png", "coffee", size=(48, 32)),
        "c.jpg": write_photo(photo_dir / "sub" / "c.jpg", "chelsea", size=(40, 30)),
        "d.avi": write_video(photo_dir / "d.avi", seconds=1.0),
        "bad.jpg": photo_dir / "bad.jpg",
    }
    files["bad.jpg"].write_text("not a photo")
    root = library.add_root(photo_dir)
    report = library.scan(root.id)
    assert report.new == len(files) and len(report.errors) == 1
    assert finish_all_jobs(library) == len(files) - 1
    return Scanned(library, db, root, photo_dir, files, CaptionStore(db))


def _rewrite(path: Path, photo: str, size: tuple[int, int]) -> None:
    """New content at the same path, with a clearly later modification time."""
    before = path.stat().st_mtime
    write_photo(path, photo, size=size)
    os.utime(path, (before + 100, before + 100))


def test_unchanged_rescan(scanned: Scanned) -> None:
    before = items(scanned.db)

    report = scanned.rescan()

    assert (report.new, report.changed, report.moved, report.missing, report.returned) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert report.unchanged == len(scanned.files)
    assert (report.probed, report.errors) == (0, [])
    assert items(scanned.db) == before
    assert jobs_by_item(scanned.db) == {}


def test_modified_file_is_reprobed_and_recaptioned(scanned: Scanned) -> None:
    item_id = scanned.id("a.jpg")
    store_model_caption(scanned.db, item_id, "an astronaut in a white suit")
    _rewrite(scanned.files["a.jpg"], "rocket", (80, 50))

    report = scanned.rescan()

    assert (report.changed, report.probed, report.new, report.moved, report.missing) == (
        1,
        1,
        0,
        0,
        0,
    )
    assert report.unchanged == len(scanned.files) - 1
    item = item_at(scanned.db, scanned.files["a.jpg"])
    assert (item.id, item.state, item.width, item.height) == (item_id, "ok", 80, 50)
    assert item.size == scanned.files["a.jpg"].stat().st_size
    assert jobs_by_item(scanned.db) == {item_id: 1}
    assert [c.text for c in scanned.captions.history(item_id)] == ["an astronaut in a white suit"]


def test_modified_file_keeps_the_users_caption_and_gets_no_job(scanned: Scanned) -> None:
    item_id = scanned.id("a.jpg")
    store_model_caption(scanned.db, item_id, "an astronaut in a white suit")
    scanned.captions.add_user_caption(item_id, "Eileen Collins, STS-93")
    _rewrite(scanned.files["a.jpg"], "rocket", (80, 50))

    report = scanned.rescan()

    assert (report.changed, report.probed) == (1, 1)
    assert (item_at(scanned.db, scanned.files["a.jpg"]).width, jobs_by_item(scanned.db)) == (
        80,
        {},
    )
    current = scanned.captions.current(item_id)
    assert current is not None
    assert (current.source, current.text) == ("user", "Eileen Collins, STS-93")


def test_fixed_bad_file_is_reprobed(scanned: Scanned) -> None:
    item_id = scanned.id("bad.jpg")
    _rewrite(scanned.files["bad.jpg"], "cat", (30, 20))

    report = scanned.rescan()

    assert (report.changed, report.errors) == (1, [])
    item = item_at(scanned.db, scanned.files["bad.jpg"])
    assert (item.id, item.state, item.last_error, item.width) == (item_id, "ok", None, 30)
    assert jobs_by_item(scanned.db) == {item_id: 1}


def _caption_both(scanned: Scanned, item_id: int) -> None:
    store_model_caption(scanned.db, item_id, "a cup of coffee")
    scanned.captions.add_user_caption(item_id, "my morning flat white")


def _assert_captions_kept(scanned: Scanned, item_id: int) -> None:
    history = scanned.captions.history(item_id)
    assert [(c.source, c.text) for c in history] == [
        ("user", "my morning flat white"),
        ("model", "a cup of coffee"),
    ]
    current = scanned.captions.current(item_id)
    assert current is not None and current.text == "my morning flat white"


@pytest.mark.parametrize(
    ("destination", "folder_text"),
    [
        ("renamed.png", "photos"),
        ("sub/b.png", "photos/sub"),
        ("new folder/2024/b.png", "photos/new folder/2024"),
    ],
    ids=["rename", "into-subfolder", "into-new-folders"],
)
def test_moved_file_keeps_its_item_and_captions(
    scanned: Scanned, destination: str, folder_text: str
) -> None:
    item_id = scanned.id("b.png")
    _caption_both(scanned, item_id)
    target = scanned.folder / destination
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(scanned.files["b.png"], target)

    report = scanned.rescan()

    assert (report.moved, report.new, report.missing, report.changed) == (1, 0, 0, 0)
    item = item_at(scanned.db, target)
    assert (item.id, item.state, item.name, item.folder) == (
        item_id,
        "ok",
        os.path.basename(destination),
        folder_text,
    )
    assert fs(scanned.files["b.png"]) not in items(scanned.db)
    _assert_captions_kept(scanned, item_id)
    assert jobs_by_item(scanned.db) == {}


@pytest.mark.parametrize("order", ["source-root-first", "destination-root-first"])
def test_file_moved_across_roots_keeps_its_item_and_captions(
    library: Library, db: Database, tmp_path: Path, order: str
) -> None:
    source = write_photo(tmp_path / "Camera" / "b.png", "coffee", size=(48, 32))
    write_photo(tmp_path / "Camera" / "other.jpg", size=(30, 30))
    write_photo(tmp_path / "Archive" / "old.jpg", "cat", size=(30, 20))
    camera, archive = library.add_root(tmp_path / "Camera"), library.add_root(tmp_path / "Archive")
    library.scan(camera.id)
    library.scan(archive.id)
    finish_all_jobs(library)
    scanned = Scanned(library, db, camera, tmp_path / "Camera", {"b.png": source}, CaptionStore(db))
    item_id = scanned.id("b.png")
    _caption_both(scanned, item_id)
    target = tmp_path / "Archive" / "2024" / "b.png"
    target.parent.mkdir()
    shutil.move(source, target)

    roots = [camera, archive] if order == "source-root-first" else [archive, camera]
    reports = [library.scan(r.id) for r in roots]

    assert sum(r.moved for r in reports) == 1
    assert sum(r.new for r in reports) == 0
    item = item_at(db, target)
    assert (item.id, item.root_id, item.state, item.folder) == (
        item_id,
        archive.id,
        "ok",
        "Archive/2024",
    )
    assert fs(source) not in items(db)
    _assert_captions_kept(scanned, item_id)
    assert library.status().missing == 0


def test_deleted_file_is_missing_until_purged(scanned: Scanned) -> None:
    item_id = scanned.id("b.png")
    _caption_both(scanned, item_id)
    scanned.files["b.png"].unlink()

    report = scanned.rescan()

    assert (report.missing, report.new, report.moved, report.changed) == (1, 0, 0, 0)
    assert report.unchanged == len(scanned.files) - 1
    assert item_at(scanned.db, scanned.files["b.png"]).state == "missing"
    _assert_captions_kept(scanned, item_id)
    status = scanned.library.status()
    assert (status.missing, status.items) == (1, len(scanned.files) - 1)
    assert scanned.rescan().missing == 0  # already known to be missing: not counted again

    assert scanned.library.purge_missing() == 1

    assert item_by_id(scanned.db, item_id) is None
    assert caption_count(scanned.db, item_id) == 0
    assert len(items(scanned.db)) == len(scanned.files) - 1
    assert scanned.library.status().missing == 0


def test_file_deleted_and_restored_in_place_returns(scanned: Scanned, tmp_path: Path) -> None:
    item_id = scanned.id("b.png")
    _caption_both(scanned, item_id)
    backup = tmp_path / "backup" / "b.png"
    copy_preserving(scanned.files["b.png"], backup)
    scanned.files["b.png"].unlink()
    assert scanned.rescan().missing == 1
    copy_preserving(backup, scanned.files["b.png"])

    report = scanned.rescan()

    assert (report.returned, report.new, report.changed, report.moved, report.missing) == (
        1,
        0,
        0,
        0,
        0,
    )
    item = item_at(scanned.db, scanned.files["b.png"])
    assert (item.id, item.state, item.width) == (item_id, "ok", 48)
    _assert_captions_kept(scanned, item_id)
    assert scanned.library.status().missing == 0


def test_removed_folder_keeps_captions_and_comes_back(scanned: Scanned) -> None:
    item_id = scanned.id("b.png")
    _caption_both(scanned, item_id)
    before = items(scanned.db)

    scanned.library.remove_root(scanned.root.id)

    assert scanned.library.roots() == []
    assert {i.state for i in items(scanned.db).values()} == {"missing"}
    _assert_captions_kept(scanned, item_id)
    status = scanned.library.status()
    assert (status.items, status.missing) == (0, len(scanned.files))

    root = scanned.library.add_root(scanned.folder)
    report = scanned.library.scan(root.id)

    assert (report.returned, report.new, report.missing, report.moved) == (
        len(scanned.files),
        0,
        0,
        0,
    )
    after = items(scanned.db)
    assert {p: (i.id, i.state) for p, i in after.items()} == {
        p: (i.id, i.state) for p, i in before.items()
    }
    _assert_captions_kept(scanned, item_id)


def test_readded_folder_requeues_caption_jobs_the_removal_cancelled(
    library: Library, db: Database, photo_dir: Path
) -> None:
    """Removing a folder cancels its queued caption jobs; when the folder comes back its
    uncaptioned photos must be queued again, or they are never captioned."""
    write_photo(photo_dir / "a.jpg", size=(40, 40))
    write_photo(photo_dir / "b.jpg", "coffee", size=(40, 30))
    root = library.add_root(photo_dir)
    library.scan(root.id)
    queued = jobs_by_item(db)
    assert len(queued) == 2

    library.remove_root(root.id)
    assert jobs_by_item(db) == {}
    library.scan(library.add_root(photo_dir).id)

    assert jobs_by_item(db) == queued
    assert library.status().queued == 2


def test_adding_a_parent_folder_absorbs_the_root(scanned: Scanned, tmp_path: Path) -> None:
    item_id = scanned.id("b.png")
    _caption_both(scanned, item_id)
    outer = write_photo(tmp_path / "outside.jpg", "rocket", size=(30, 30))
    before = items(scanned.db)

    parent = scanned.library.add_root(tmp_path)

    assert parent.id != scanned.root.id
    assert [os.fsencode(r.path) for r in scanned.library.roots()] == [fs(tmp_path)]
    assert {i.root_id for i in items(scanned.db).values()} == {parent.id}
    report = scanned.library.scan(parent.id)
    assert (report.new, report.unchanged, report.moved, report.missing, report.changed) == (
        1,
        len(scanned.files),
        0,
        0,
        0,
    )
    after = items(scanned.db)
    assert {p: i.id for p, i in after.items() if p in before} == {
        p: i.id for p, i in before.items()
    }
    assert after[fs(outer)].state == "ok"
    _assert_captions_kept(scanned, item_id)
    # A folder inside the library is already in it: no second root.
    assert scanned.library.add_root(scanned.folder / "sub").id == parent.id
    assert len(scanned.library.roots()) == 1


def test_absorbed_items_folder_text_follows_the_new_root(scanned: Scanned, tmp_path: Path) -> None:
    """`folder` is the display/search text relative to the item's root (plus the root's
    name): after absorption it must be relative to the new, outer root."""
    parent = scanned.library.add_root(tmp_path)
    scanned.library.scan(parent.id)

    label = tmp_path.name
    assert item_at(scanned.db, scanned.files["a.jpg"]).folder == f"{label}/photos"
    assert item_at(scanned.db, scanned.files["c.jpg"]).folder == f"{label}/photos/sub"


def test_different_photo_at_a_deleted_photos_path_is_a_changed_item(scanned: Scanned) -> None:
    """Deleted, rescanned, another photo written there: a changed item, as if it had been
    overwritten with no rescan between (issue 17: it used to be a new item, and the
    user's words went out of sight with the missing one). Their caption is kept, so no
    caption job; no second row."""
    old_id = scanned.id("a.jpg")
    scanned.captions.add_user_caption(old_id, "my astronaut")
    scanned.files["a.jpg"].unlink()
    assert scanned.rescan().missing == 1
    write_photo(scanned.files["a.jpg"], "rocket", size=(70, 50))

    report = scanned.rescan()

    changed = item_at(scanned.db, scanned.files["a.jpg"])
    assert report.new == 0 and report.changed == 1
    assert changed.id == old_id and changed.state == "ok" and changed.width == 70
    assert scanned.captions.current(old_id).text == "my astronaut"
    assert len(items(scanned.db)) == len(scanned.files)
    assert jobs_by_item(scanned.db).get(old_id) is None


def test_folder_renamed_onto_a_folder_whose_files_went_missing(
    library: Library, db: Database, photo_dir: Path
) -> None:
    """Holiday/ deleted, then "Holiday (1)/" renamed to "Holiday/": each item keeps its own
    captions, nothing crashes on the paths the missing items used to hold."""
    from app.core.library.scanner import FsChanges

    old = write_photo(photo_dir / "Holiday" / "photo.jpg", "coffee", size=(40, 30))
    new = write_photo(photo_dir / "Holiday (1)" / "photo.jpg", "rocket", size=(50, 40))
    root = library.add_root(photo_dir)
    library.scan(root.id)
    store = CaptionStore(db)
    coffee_id, rocket_id = item_at(db, old).id, item_at(db, new).id
    store.add_user_caption(coffee_id, "a cup of coffee")
    store.add_user_caption(rocket_id, "a rocket launch")
    shutil.rmtree(photo_dir / "Holiday")
    library.scan(root.id)
    os.rename(photo_dir / "Holiday (1)", photo_dir / "Holiday")

    report = library.indexer.index_changes(
        FsChanges(moved=[(fs(photo_dir / "Holiday (1)"), fs(photo_dir / "Holiday"))])
    )
    assert report.moved == 1

    assert item_at(db, old).id == rocket_id  # the file now at Holiday/photo.jpg
    assert store.current(rocket_id).text == "a rocket launch"
    assert store.current(coffee_id).text == "a cup of coffee"
    assert item_by_id(db, coffee_id).state == "missing"
    assert library.scan(root.id).changed == 0  # and a rescan agrees
    assert store.current(item_at(db, old).id).text == "a rocket launch"


def test_file_marked_missing_by_a_batch_that_raced_a_folder_rename_comes_back(
    scanned: Scanned,
) -> None:
    """The watcher took a change to sub/c.jpg, then the folder was renamed before that
    batch looked: c.jpg was marked missing at its old path. The rename, applied next,
    finds it at the new path: it is back, captions and all, not missing."""
    from app.core.library.scanner import FsChanges

    item_id = scanned.id("c.jpg")
    _caption_both(scanned, item_id)
    renamed = scanned.folder / "Summer 2024"
    os.rename(scanned.folder / "sub", renamed)

    raced = scanned.library.indexer.index_changes(FsChanges(touched={fs(scanned.files["c.jpg"])}))
    assert raced.missing == 1 and item_by_id(scanned.db, item_id).state == "missing"
    report = scanned.library.indexer.index_changes(
        FsChanges(moved=[(fs(scanned.folder / "sub"), fs(renamed))])
    )

    assert report.moved == 1 and report.returned == 1
    item = item_at(scanned.db, renamed / "c.jpg")
    assert (item.id, item.state, item.folder) == (
        item_id,
        "ok",
        f"{scanned.folder.name}/Summer 2024",
    )
    _assert_captions_kept(scanned, item_id)
    assert scanned.rescan().changed == 0


# -- batched writes ----------------------------------------------------------------------
def test_many_changes_in_one_rescan(library: Library, db: Database, photo_dir: Path) -> None:
    """More changed, deleted and returned files than one statement takes (500): every
    kind is written in bulk and nothing is lost at the chunk edges."""
    jpeg = tiny_jpeg(photo_dir / "f0000.jpg")
    paths = [photo_dir / f"f{i:04d}.jpg" for i in range(1, 1801)]
    for path in paths:
        path.write_bytes(jpeg)
    root = library.add_root(photo_dir)
    library.scan(root.id)
    finish_all_jobs(library)
    changed, deleted, kept = paths[:600], paths[600:1200], paths[1200:]
    for path in changed:
        path.write_bytes(jpeg + b"\0" * 7)  # still a valid JPEG, a different size
    stash = photo_dir.parent / "stash"
    stash.mkdir()
    for path in deleted:
        os.rename(path, stash / path.name)

    report = library.scan(root.id)

    assert (report.changed, report.missing, report.probed) == (600, 600, 600)
    assert (report.new, report.moved, report.unchanged) == (0, 0, len(kept) + 1)
    states = {p: item.state for p, item in items(db).items()}
    assert {states[fs(p)] for p in changed + kept} == {"ok"}
    assert {states[fs(p)] for p in deleted} == {"missing"}
    assert {item_at(db, p).size for p in changed} == {len(jpeg) + 7}
    assert len(jobs_by_item(db)) == 600  # the changed ones are captioned again

    for path in deleted:
        os.rename(stash / path.name, path)
    report = library.scan(root.id)

    assert (report.returned, report.new, report.missing) == (600, 0, 0)
    assert {item_at(db, p).state for p in deleted} == {"ok"}


def test_new_file_of_a_known_size_is_new_unless_it_is_that_file(scanned: Scanned) -> None:
    """Size is only the first hint of a move (looked up for the sizes found); the
    fingerprint decides. A lookalike of the same size is a new item."""
    item_id = scanned.id("b.png")
    original = scanned.files["b.png"].read_bytes()
    lookalike = original[:-1] + bytes([original[-1] ^ 0xFF])
    (scanned.folder / "lookalike.png").write_bytes(lookalike)
    os.rename(scanned.files["b.png"], scanned.folder / "sub" / "moved.png")

    report = scanned.rescan()

    assert (report.moved, report.new, report.missing) == (1, 1, 0)
    assert item_at(scanned.db, scanned.folder / "sub" / "moved.png").id == item_id
    assert item_at(scanned.db, scanned.folder / "lookalike.png").id != item_id


def test_probe_result_does_not_overwrite_a_newer_state(
    library: Library, db: Database, photo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probe results are stored only for items still waiting for them ('new'): one
    the user removed meanwhile (here: marked missing) stays as it is."""
    import app.core.library.scanner as scanner

    write_photo(photo_dir / "a.jpg", size=(20, 20))
    write_photo(photo_dir / "b.jpg", "coffee", size=(20, 20))
    real_probe = scanner.probe

    def probe_and_interfere(path: bytes, kind: str, mtime_ns: int):  # type: ignore[no-untyped-def]
        if path.endswith(b"b.jpg"):
            with db.write() as conn:
                conn.exec_driver_sql(
                    "UPDATE media_items SET state = 'missing' WHERE path = ?", (path,)
                )
        return real_probe(path, kind, mtime_ns)

    monkeypatch.setattr(scanner, "probe", probe_and_interfere)
    library.scan(library.add_root(photo_dir).id)

    assert item_at(db, photo_dir / "a.jpg").state == "ok"
    b = item_at(db, photo_dir / "b.jpg")
    assert (b.state, b.width, b.fingerprint) == ("missing", None, None)
