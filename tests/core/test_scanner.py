"""First scans of a folder: every format the app claims, what the probe reads from each
file, caption jobs, and walks of odd trees (symlink loops, hidden and system folders,
files that vanish while the scan runs).

Everything here runs on real files in temporary folders and a real SQLite library.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from app.core.library.library import Library
from app.core.library.scanner import PROBE_BATCH
from app.core.storage.db import Database
from tests.core.scan_support import fs, item_at, items, jobs_by_item, tiny_jpeg
from tests.media_factory import write_animated_gif, write_photo, write_video

# A fixed, local modification time for files without EXIF dates: 2020-01-02 03:04:05.
MTIME = dt.datetime(2020, 1, 2, 3, 4, 5).timestamp()
MTIME_ISO = "2020-01-02T03:04:05"

# name -> (write_photo arguments, expected width, height, taken_at)
PHOTOS: dict[str, tuple[dict[str, object], int, int, str]] = {
    "plain.jpg": (
        {"size": (64, 48), "exif_datetime": "2019:07:14 10:20:30"},
        64,
        48,
        "2019-07-14T10:20:30",
    ),
    "no-exif.jpeg": ({"size": (80, 60)}, 80, 60, MTIME_ISO),
    "SHOUTING.JPG": ({"size": (30, 20), "name": "rocket"}, 30, 20, MTIME_ISO),
    "lossless.png": (
        {"size": (72, 40), "exif_datetime": "2018:01:31 23:59:58"},
        72,
        40,
        "2018-01-31T23:59:58",
    ),
    "modern.webp": (
        {"size": (50, 70), "exif_datetime": "2022:12:01 08:00:00"},
        50,
        70,
        "2022-12-01T08:00:00",
    ),
    "scan.tif": (
        {"size": (40, 30), "exif_datetime": "2001:02:03 04:05:06"},
        40,
        30,
        "2001-02-03T04:05:06",
    ),
    "scan.tiff": ({"size": (30, 40), "name": "cat"}, 30, 40, MTIME_ISO),
    "old.bmp": ({"size": (33, 21), "name": "chelsea"}, 33, 21, MTIME_ISO),
    "still.gif": ({"size": (45, 35), "name": "coffee"}, 45, 35, MTIME_ISO),
    # A phone photo stored landscape with "rotate 90° CW" in EXIF is shown portrait.
    "rotated.jpg": (
        {"size": (64, 48), "orientation": 6, "exif_datetime": "2023:06:07 12:00:00"},
        48,
        64,
        "2023-06-07T12:00:00",
    ),
}
ANIMATED_GIF = ("animated.gif", 64, 48)
# name -> (write_video arguments, width, height, duration)
VIDEOS: dict[str, tuple[dict[str, object], int, int, float]] = {
    "clip.avi": ({"seconds": 2.0, "fps": 10, "size": (160, 120)}, 160, 120, 2.0),
    "clip.mp4": ({"seconds": 1.5, "fps": 12, "size": (96, 64)}, 96, 64, 1.5),
}


def make_every_format(folder: Path) -> list[Path]:
    paths = []
    for name, (kwargs, *_expected) in PHOTOS.items():
        paths.append(write_photo(folder / name, **kwargs))  # type: ignore[arg-type]
    paths.append(write_animated_gif(folder / "album" / ANIMATED_GIF[0], size=ANIMATED_GIF[1:]))
    (folder / "videos").mkdir()
    for name, (kwargs, *_expected) in VIDEOS.items():
        paths.append(write_video(folder / "videos" / name, **kwargs))  # type: ignore[arg-type]
    for path in paths:
        os.utime(path, (MTIME, MTIME))
    return paths


def test_first_scan_indexes_every_claimed_format(
    library: Library, db: Database, photo_dir: Path
) -> None:
    paths = make_every_format(photo_dir)
    root = library.add_root(photo_dir)

    report = library.scan(root.id)

    assert report.errors == []
    assert (report.new, report.probed) == (len(paths), len(paths))
    assert (report.changed, report.moved, report.missing, report.unchanged) == (0, 0, 0, 0)
    found = items(db)
    assert set(found) == {fs(p) for p in paths}
    for name, (_kwargs, width, height, taken) in PHOTOS.items():
        item = found[fs(photo_dir / name)]
        assert (item.kind, item.state, item.last_error) == ("photo", "ok", None), name
        assert (item.width, item.height) == (width, height), name
        assert item.taken_at == taken, name
        assert item.duration is None and item.fingerprint, name
    gif = found[fs(photo_dir / "album" / ANIMATED_GIF[0])]
    assert (gif.state, gif.width, gif.height) == ("ok", *ANIMATED_GIF[1:])
    assert gif.folder == "photos/album"
    for name, (_kwargs, width, height, seconds) in VIDEOS.items():
        video = found[fs(photo_dir / "videos" / name)]
        assert (video.kind, video.state, video.last_error) == ("video", "ok", None), name
        assert (video.width, video.height) == (width, height), name
        assert video.duration == pytest.approx(seconds, abs=0.15), name
        assert video.taken_at == MTIME_ISO, name

    status = library.status()
    assert (status.items, status.photos, status.videos) == (len(paths), len(PHOTOS) + 1, 2)
    assert (status.errors, status.missing, status.queued) == (0, 0, len(paths))


def test_auto_caption_queues_one_job_per_good_item(
    library: Library, db: Database, photo_dir: Path
) -> None:
    write_photo(photo_dir / "a.jpg", size=(40, 40))
    write_photo(photo_dir / "b.png", "coffee", size=(40, 30))
    write_video(photo_dir / "c.avi", seconds=1.0)
    (photo_dir / "broken.jpg").write_text("not a photo")

    library.scan(library.add_root(photo_dir).id)

    found = items(db)
    good = {found[fs(photo_dir / n)].id for n in ("a.jpg", "b.png", "c.avi")}
    assert jobs_by_item(db) == {item_id: 1 for item_id in good}
    assert found[fs(photo_dir / "broken.jpg")].state == "error"


def test_no_jobs_when_auto_caption_is_off(library: Library, db: Database, photo_dir: Path) -> None:
    write_photo(photo_dir / "a.jpg", size=(40, 40))
    write_video(photo_dir / "b.mp4", seconds=1.0)
    library.settings.set("auto_caption", False)

    report = library.scan(library.add_root(photo_dir).id)

    assert report.new == 2 and report.errors == []
    assert {i.state for i in items(db).values()} == {"ok"}
    assert jobs_by_item(db) == {}
    assert library.status().queued == 0


# -- odd trees ---------------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_symlink_loops_terminate_and_index_each_file_once(
    library: Library, db: Database, photo_dir: Path, tmp_path: Path
) -> None:
    one = write_photo(photo_dir / "a" / "one.jpg", size=(20, 20))
    two = write_photo(photo_dir / "a" / "b" / "two.jpg", "coffee", size=(20, 20))
    outside = write_photo(tmp_path / "elsewhere" / "three.jpg", "cat", size=(20, 20))
    os.symlink("..", photo_dir / "a" / "b" / "up")  # to its parent
    os.symlink(".", photo_dir / "self")  # to itself
    os.symlink(photo_dir, photo_dir / "a" / "b" / "root")  # to the root, absolute
    os.symlink(outside.parent, photo_dir / "linked")  # a folder outside the root
    os.symlink(photo_dir, outside.parent / "back")  # ... that links back in

    report = library.scan(library.add_root(photo_dir).id)

    assert report.errors == []
    expected = {fs(one), fs(two), fs(photo_dir / "linked" / "three.jpg")}
    assert set(items(db)) == expected
    assert report.new == 3
    assert {i.state for i in items(db).values()} == {"ok"}


@pytest.mark.parametrize("order", ["linking-root-first", "linked-root-first"])
def test_symlink_into_another_library_folder_indexes_each_real_file_once(
    library: Library, db: Database, tmp_path: Path, order: str
) -> None:
    """Issue 17: a symlinked folder (or file) in one library folder that points into
    another was indexed twice, and so captioned twice. Each real file is one item, at
    its real path; a link out of the library is still followed."""
    camera, archive = tmp_path / "Camera", tmp_path / "Archive"
    real = [
        write_photo(archive / "2024" / "one.jpg", size=(20, 20)),
        write_photo(archive / "2024" / "two.jpg", "coffee", size=(22, 20)),
        write_photo(archive / "three.jpg", "cat", size=(24, 20)),
        write_photo(camera / "four.jpg", "rocket", size=(26, 20)),
    ]
    outside = write_photo(tmp_path / "elsewhere" / "five.jpg", "chelsea", size=(28, 20))
    os.symlink(archive / "2024", camera / "best of 2024")  # a folder in another root
    os.symlink(archive / "three.jpg", camera / "three.jpg")  # a file in another root
    os.symlink(camera, camera / "again")  # its own root
    os.symlink(outside.parent, camera / "linked")  # out of the library: followed
    roots = [library.add_root(camera), library.add_root(archive)]

    for root in roots if order == "linking-root-first" else roots[::-1]:
        assert library.scan(root.id).errors == []
    for root in roots:  # and rescans agree
        assert library.scan(root.id).new == 0

    assert set(items(db)) == {*map(fs, real), fs(camera / "linked" / "five.jpg")}
    assert library.status().items == 5
    assert sorted(jobs_by_item(db).values()) == [1] * 5


def test_watcher_batch_does_not_follow_a_symlink_into_the_library(
    library: Library, db: Database, tmp_path: Path
) -> None:
    """The watcher's path: a folder moved into one root with a link into another."""
    from app.core.library.scanner import FsChanges

    camera, archive = tmp_path / "Camera", tmp_path / "Archive"
    one = write_photo(archive / "2024" / "one.jpg", size=(20, 20))
    camera.mkdir()
    for root in (library.add_root(camera), library.add_root(archive)):
        library.scan(root.id)
    imported = tmp_path / "Import"
    two = write_photo(imported / "two.jpg", "coffee", size=(22, 20))
    os.symlink(archive / "2024", imported / "from the archive")
    os.symlink(archive / "2024", camera / "link")
    imported.rename(camera / "Import")

    report = library.indexer.index_changes(
        FsChanges(touched={fs(camera / "Import"), fs(camera / "link")})
    )

    assert report.new == 1 and report.errors == []
    assert set(items(db)) == {fs(one), fs(camera / "Import" / two.name)}


def test_library_folder_added_through_a_symlink_is_walked(
    library: Library, db: Database, photo_dir: Path, tmp_path: Path
) -> None:
    one = write_photo(photo_dir / "one.jpg", size=(20, 20))
    link = tmp_path / "Pictures"
    os.symlink(photo_dir, link)

    report = library.scan(library.add_root(link).id)

    assert report.new == 1 and set(items(db)) == {fs(one)}


HIDDEN = (
    ".thumbnails/t.jpg",
    ".git/objects/x.jpg",
    "@eaDir/keep.jpg/SYNOFILE_THUMB_M.jpg",
    ".hidden.jpg",
    "deep/.cache/c.jpg",
)


@pytest.mark.parametrize("skip_hidden", [True, False], ids=["default", "skip_hidden=False"])
def test_hidden_and_system_folders(
    library: Library, db: Database, photo_dir: Path, skip_hidden: bool
) -> None:
    jpeg = tiny_jpeg(photo_dir / "keep.jpg")
    (photo_dir / "deep").mkdir()
    write_photo(photo_dir / "deep" / "visible.png", size=(10, 10))
    for rel in HIDDEN:
        (photo_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (photo_dir / rel).write_bytes(jpeg)
    if not skip_hidden:
        library.settings.set("skip_hidden", False)

    report = library.scan(library.add_root(photo_dir).id)

    visible = {fs(photo_dir / "keep.jpg"), fs(photo_dir / "deep" / "visible.png")}
    hidden = {fs(photo_dir / rel) for rel in HIDDEN}
    assert set(items(db)) == (visible if skip_hidden else visible | hidden)
    assert report.errors == []


# -- files vanishing mid-scan ------------------------------------------------------------


def test_files_deleted_before_probing_end_up_missing(
    library: Library, db: Database, photo_dir: Path
) -> None:
    """Delete every not-yet-probed file once the first probe batch is stored."""
    count = PROBE_BATCH + 6
    jpeg = tiny_jpeg(photo_dir / "f0000.jpg")
    for i in range(1, count):
        (photo_dir / f"f{i:04d}.jpg").write_bytes(jpeg)
    root = library.add_root(photo_dir)
    deleted: list[bytes] = []

    def progress(phase: str, _count: int) -> None:
        if phase == "probing" and not deleted:
            for path, item in items(db).items():
                if item.state == "new":
                    os.remove(path)
                    deleted.append(path)

    report = library.scan(root.id, progress=progress)

    assert len(deleted) == count - PROBE_BATCH  # the hook ran between the two batches
    assert report.errors == []
    assert (report.new, report.probed, report.missing) == (count, count, len(deleted))
    states = {path: item.state for path, item in items(db).items()}
    assert {states[p] for p in deleted} == {"missing"}
    assert sorted(s for p, s in states.items() if p not in deleted) == ["ok"] * PROBE_BATCH
    assert len(jobs_by_item(db)) == PROBE_BATCH
    assert library.status().missing == len(deleted)


def test_files_deleted_during_discovery_end_up_missing(
    library: Library, db: Database, photo_dir: Path
) -> None:
    """Discovery reports progress every 1000 files, with those files already stored:
    delete them there, before any probing."""
    count = 1005
    jpeg = tiny_jpeg(photo_dir / "f0000.jpg")
    for i in range(1, count):
        (photo_dir / f"f{i:04d}.jpg").write_bytes(jpeg)
    root = library.add_root(photo_dir)
    deleted: list[bytes] = []

    def progress(phase: str, _count: int) -> None:
        if phase == "discovering" and not deleted:
            for path in items(db):
                os.remove(path)
                deleted.append(path)

    report = library.scan(root.id, progress=progress)

    assert len(deleted) >= 1000  # the hook saw the stored files
    assert report.errors == []
    assert (report.new, report.missing) == (count, len(deleted))
    states = {path: item.state for path, item in items(db).items()}
    assert {states[p] for p in deleted} == {"missing"}
    kept = [s for p, s in states.items() if p not in deleted]
    assert kept == ["ok"] * (count - len(deleted))
    assert set(jobs_by_item(db)) == {item_at(db, p).id for p in states if p not in deleted}


# -- the walk and where files go ---------------------------------------------------------
def test_walk_files_yields_plain_tuples_and_reports_errors(photo_dir: Path) -> None:
    from app.core.library.walk import BROKEN_LINK, WalkError, walk_files, walk_media

    a = write_photo(photo_dir / "a.JPG", size=(10, 10))
    (photo_dir / "sub").mkdir()
    b = write_video(photo_dir / "sub" / "b.avi", seconds=1.0)
    (photo_dir / "notes.txt").write_text("not media")
    (photo_dir / "folder.jpg").mkdir()  # a folder, whatever its name
    write_photo(photo_dir / ".hidden" / "c.jpg", size=(10, 10))
    os.symlink(photo_dir / "nowhere.jpg", photo_dir / "dangling.jpg")
    errors: list[WalkError] = []

    found = sorted(walk_files(fs(photo_dir), errors.append))

    assert found == sorted(
        (fs(p), kind, p.stat().st_size, p.stat().st_mtime_ns)
        for p, kind in [(a, "photo"), (b, "video")]
    )
    assert errors == [WalkError(fs(photo_dir / "dangling.jpg"), BROKEN_LINK)]
    assert sorted(map(str, walk_media(fs(photo_dir)))) == sorted(map(str, [*found, *errors]))
    missing: list[WalkError] = []
    assert list(walk_files(fs(photo_dir / "gone"), missing.append)) == []
    assert [e.path for e in missing] == [fs(photo_dir / "gone")]


def test_placer_gives_root_name_and_folder_text_per_file() -> None:
    from app.core.library.roots import Placer, RootInfo, folder_text

    pictures = RootInfo(1, b"/home/u/Pictures", b"Pictures")
    camera = RootInfo(2, b"/home/u/Pictures/Camera", b"Camera")  # nested: the deepest wins
    placer = Placer([pictures, camera])

    assert placer.place(b"/home/u/Pictures/a.jpg") == (pictures, "a.jpg", "Pictures")
    assert placer.place(b"/home/u/Pictures/2024/Summer/b.jpg") == (
        pictures,
        "b.jpg",
        "Pictures/2024/Summer",
    )
    assert placer.place(b"/home/u/Pictures/2024/Summer/c\xff.jpg") == (
        pictures,
        "c\ufffd.jpg",
        "Pictures/2024/Summer",
    )
    assert placer.place(b"/home/u/Pictures/Camera/d.jpg") == (camera, "d.jpg", "Camera")
    assert placer.place(b"/home/u/Videos/e.mp4") is None
    assert folder_text(b"/home/u/Pictures/2024/Summer/b.jpg", pictures) == "Pictures/2024/Summer"
