"""Paths handed over from outside ("Caption this" in a file manager): files and folders
are indexed, their folders join the library when needed, and they are queued first."""

from __future__ import annotations

import os
from pathlib import Path

from app.core.jobs import PRIORITY_USER
from app.core.library.handover import NOT_MEDIA, index_paths, queue_paths
from app.core.library.library import Library
from tests.media_factory import write_photo, write_video


def queued_jobs(library: Library) -> dict[int, int]:
    """item id → priority of its queued job."""
    with library.db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT item_id, priority FROM jobs WHERE state = 'queued'"
        ).all()
    return {item: priority for item, priority in rows}


def root_paths(library: Library) -> list[bytes]:
    return [bytes(r.path) if isinstance(r.path, bytes) else os.fsencode(r.path)
            for r in library.roots()]  # fmt: skip


def test_a_file_outside_the_library_brings_its_folder_and_is_queued_first(
    library: Library, tmp_path: Path
) -> None:
    photo = write_photo(tmp_path / "Downloads" / "été à Paris.jpg", "astronaut")
    write_photo(tmp_path / "Downloads" / "other.jpg", "rocket")
    result = queue_paths(library, [str(photo)])
    assert not result.errors
    (item,) = result.items[str(photo)]
    assert root_paths(library) == [os.fsencode(os.path.realpath(tmp_path / "Downloads"))]
    assert queued_jobs(library) == {item: PRIORITY_USER}  # only the file asked for
    assert result.summary() == "Queued 1 item at the front of the line"


def test_a_folder_queues_the_photos_and_videos_inside_it(library: Library, tmp_path: Path) -> None:
    album = tmp_path / "Album"
    write_photo(album / "a.jpg", "astronaut")
    write_photo(album / "deeper" / "b.png", "coffee")
    write_video(album / "clip.mp4")
    (album / "notes.txt").write_text("not media")
    result = queue_paths(library, [str(album)])
    assert not result.errors
    ids = result.items[str(album)]
    assert len(ids) == 3
    assert set(queued_jobs(library)) == set(ids)
    assert set(queued_jobs(library).values()) == {PRIORITY_USER}


def test_a_file_already_in_the_library_keeps_its_folder(library: Library, tmp_path: Path) -> None:
    photo = write_photo(tmp_path / "Pictures" / "2024" / "a.jpg", "astronaut")
    root = library.add_root(tmp_path / "Pictures")
    library.scan(root.id)
    with library.db.read() as conn:
        known = conn.exec_driver_sql("SELECT id FROM media_items").scalar_one()
    result = queue_paths(library, [str(photo)])
    assert result.items == {str(photo): [known]}
    assert len(library.roots()) == 1


def test_each_unusable_path_says_why_and_the_others_are_queued(
    library: Library, tmp_path: Path
) -> None:
    good = write_photo(tmp_path / "in" / "good.jpg", "astronaut")
    text = tmp_path / "in" / "notes.txt"
    text.write_text("hello")
    empty = tmp_path / "empty folder"
    empty.mkdir()
    zero = tmp_path / "in" / "zero.jpg"
    zero.write_bytes(b"")
    missing = str(tmp_path / "gone.jpg")
    given = [missing, str(text), str(empty), str(zero), str(good)]
    result = queue_paths(library, given)
    assert result.errors[missing] == "no such file"
    assert result.errors[str(text)] == NOT_MEDIA
    assert result.errors[str(empty)] == "no photos or videos in it"
    assert result.errors[str(zero)]  # the scanner's reason for an empty file
    assert list(result.items) == [str(good)]
    assert list(queued_jobs(library)) == result.item_ids()
    assert result.summary() == "Queued 1 item at the front of the line; 4 could not be used"


def test_the_caption_command_refuses_folders(library: Library, tmp_path: Path) -> None:
    album = tmp_path / "Album"
    write_photo(album / "a.jpg", "astronaut")
    result = index_paths(library, [str(album)], folders=False)
    assert result.errors == {str(album): "a folder: give the photos or videos in it"}
    assert not library.roots()
