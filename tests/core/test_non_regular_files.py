"""A FIFO (or folder, or device) where a photo was: every reader refuses it at once with
"not a regular file (...)", instead of blocking forever in open() waiting for a writer
(which also made Ctrl+C useless), or calling it an empty file.

Each call that could block runs in a daemon thread with a deadline, and every FIFO is
opened for writing at teardown, so that on the old code the test fails instead of
hanging the suite.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.captioning.prepare import prepare
from app.core.item_details import exif_summary
from app.core.library.fingerprint import fingerprint
from app.core.library.library import Library
from app.core.media.errors import MediaError
from app.core.media.photo import load_for_model
from app.core.media.probe import probe
from app.core.media.thumbnails import make_thumbnail
from app.core.media.video import extract_keyframes, video_info
from app.core.metadata import xmp
from app.core.storage.db import Database
from models.regular_file import NotRegularFile, regular_file
from tests.core.scan_support import fs, item_at, items, jobs_by_item
from tests.media_factory import write_photo

DEADLINE_S = 20.0
A_FIFO = "not a regular file (a FIFO)"


def _within(call: Callable[[], Any], seconds: float = DEADLINE_S) -> Any:
    """call()'s result or exception, failing the test if it is still blocked later."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds:.0f} s (open() on a FIFO?)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _unblock(fifo: Path) -> None:
    """Release a reader stuck in open() on the FIFO (the old code): a writer that
    opens and closes gives it end of file."""
    for _ in range(50):
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader (any more), or the FIFO is gone
            return
        os.close(fd)


@pytest.fixture
def make_fifo() -> Iterator[Callable[[Path], Path]]:
    made: list[Path] = []

    def make(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.mkfifo(path)
        made.append(path)
        return path

    yield make
    for fifo in made:
        _unblock(fifo)


def test_the_helper_refuses_a_fifo_and_a_folder_without_blocking(
    tmp_path: Path, make_fifo: Callable[[Path], Path]
) -> None:
    fifo = make_fifo(tmp_path / "photo.jpg")
    with pytest.raises(NotRegularFile, match=r"not a regular file \(a FIFO\)"):
        _within(lambda: regular_file(fifo).__enter__())
    with pytest.raises(NotRegularFile, match=r"not a regular file \(a directory\)"):
        _within(lambda: regular_file(tmp_path).__enter__())
    photo = write_photo(tmp_path / "real.jpg", size=(40, 30))
    with regular_file(photo) as stream:
        assert stream.read(2) == b"\xff\xd8"


def test_a_photo_swapped_for_a_fifo_between_discovery_and_probing_is_a_per_item_error(
    library: Library, db: Database, photo_dir: Path, make_fifo: Callable[[Path], Path]
) -> None:
    victim = write_photo(photo_dir / "victim.jpg", size=(40, 30))
    good = write_photo(photo_dir / "good.jpg", size=(40, 30))
    root = library.add_root(photo_dir)

    def swap_once_discovered() -> bool:
        """The scan's own stop check, asked between its phases: once discovery has
        stored the photo (state "new"), the photo becomes a FIFO before it is probed."""
        found = items(db).get(fs(victim))
        if found is not None and found.state == "new" and victim.is_file():
            make_fifo(victim)
        return False

    report = _within(lambda: library.scan(root.id, should_stop=swap_once_discovered))

    assert not victim.is_file() and victim.exists(), "the swap never happened"
    assert [(e.path, e.reason) for e in report.errors] == [(str(victim), A_FIFO)]
    item = item_at(db, victim)
    assert (item.state, item.last_error) == ("error", A_FIFO)
    ok = item_at(db, good)
    assert ok.state == "ok"
    assert jobs_by_item(db) == {ok.id: 1}


def test_every_reader_of_user_files_refuses_a_fifo_at_once(
    tmp_path: Path, make_fifo: Callable[[Path], Path]
) -> None:
    photo = make_fifo(tmp_path / "photo.jpg")
    video = make_fifo(tmp_path / "clip.mp4")
    raw = os.fsencode(photo)

    with pytest.raises(NotRegularFile, match=A_FIFO.replace("(", r"\(").replace(")", r"\)")):
        _within(lambda: fingerprint(raw))
    assert _within(lambda: probe(raw, "photo", 0)).error == A_FIFO
    assert _within(lambda: probe(os.fsencode(video), "video", 0)).error == A_FIFO
    for call in (
        lambda: load_for_model(raw),
        lambda: extract_keyframes(os.fsencode(video)),
        lambda: video_info(os.fsencode(video)),
        lambda: make_thumbnail(tmp_path / "thumbs", raw, 1, 0, "photo"),
        lambda: make_thumbnail(tmp_path / "thumbs", os.fsencode(video), 1, 0, "video"),
    ):
        with pytest.raises(MediaError) as caught:
            _within(call)
        assert str(caught.value) == A_FIFO
    assert _within(lambda: xmp.read(photo)) is None
    assert _within(lambda: exif_summary(str(photo))) == ()


@pytest.mark.parametrize("kind", ["photo", "video"])
def test_a_fifo_swapped_into_a_queued_item_is_not_called_an_empty_file(
    tmp_path: Path, make_fifo: Callable[[Path], Path], kind: str
) -> None:
    """The worker's prepare(): it said "empty file (0 bytes)" (a FIFO's size is 0)."""
    fifo = make_fifo(tmp_path / ("queued.jpg" if kind == "photo" else "queued.mp4"))

    def prepare_it() -> Any:
        return prepare(
            7,
            os.fsencode(fifo),
            kind,
            thumbnails=tmp_path / "thumbs",
            max_side=256,
            max_keyframes=2,
            with_exif_context=True,
        )

    with pytest.raises(MediaError) as caught:
        _within(prepare_it)
    assert str(caught.value) == A_FIFO


def test_xmp_writes_never_copy_from_or_replace_a_fifo(
    tmp_path: Path, make_fifo: Callable[[Path], Path]
) -> None:
    photo = write_photo(tmp_path / "photo.jpg", size=(40, 30))
    sidecar = make_fifo(xmp.sidecar_path(photo))
    fields = xmp.fields_for(
        "A cat.", ["cat"], language="en", by_user=True, model=None, prompt=None, adapter=None
    )
    with pytest.raises(xmp.MetadataError, match=r"not a regular file \(a FIFO\)"):
        _within(lambda: xmp.write_sidecar(photo, fields))
    assert sidecar.exists() and not sidecar.is_file()  # left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg", "photo.jpg.xmp"]
