"""The thumbnail service: made off the GUI thread, newest request first, stale dropped.

The service runs the real make_thumbnail on real photos and videos. Where a test needs
renders to wait (to fill the stack, or to change a file while it renders), the real
function is held at a gate; nothing about its result is faked.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from app.core.media.thumbnails import Kind, make_thumbnail, thumbnail_path
from app.services.thumbnails import ThumbnailService
from tests.media_factory import REAL_PHOTOS, write_photo, write_video

pytestmark = pytest.mark.timeout(60)


class Gated:
    """make_thumbnail behind a gate, noting each call's path and thread."""

    def __init__(self, *, closed: bool) -> None:
        self.gate = threading.Event()
        if not closed:
            self.gate.set()
        self.calls: list[bytes | str] = []
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def __call__(
        self, cache_dir: Path, path: bytes | str, mtime_ns: int, size: int, kind: Kind, side: int
    ) -> Path:
        with self._lock:
            self.calls.append(path)
            self.threads.add(threading.get_ident())
        assert self.gate.wait(20), "the test never opened the gate"
        return make_thumbnail(cache_dir, path, mtime_ns, size, kind, side)


class Received:
    """Everything the service emitted, in order."""

    def __init__(self, service: ThumbnailService) -> None:
        self.ready: list[tuple[int, QImage]] = []
        self.failed: list[tuple[int, str]] = []
        service.thumbnail_ready.connect(lambda i, image: self.ready.append((i, image)))
        service.thumbnail_failed.connect(lambda i, reason: self.failed.append((i, reason)))

    @property
    def ids(self) -> list[int]:
        return [i for i, _ in self.ready]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "thumbnails" / "gallery"


@pytest.fixture
def make_service(qtbot: QtBot, cache: Path) -> Iterator:
    """A factory; every service made is shut down (gates opened) after the test."""
    made: list[tuple[ThumbnailService, Gated]] = []

    def factory(*, closed: bool = False, **options: object) -> tuple[ThumbnailService, Gated]:
        gated = Gated(closed=closed)
        service = ThumbnailService(cache, make=gated, **options)  # type: ignore[arg-type]
        made.append((service, gated))
        return service, gated

    yield factory
    for service, gated in made:
        gated.gate.set()
        assert service.shutdown(10_000)


def photos(folder: Path, count: int, size: tuple[int, int] = (96, 64)) -> list[Path]:
    names = REAL_PHOTOS * (count // len(REAL_PHOTOS) + 1)
    return [write_photo(folder / f"p{i:03}.jpg", names[i], size=size) for i in range(count)]


def ask(service: ThumbnailService, item_id: int, path: Path, kind: Kind = "photo") -> int:
    st = os.stat(path)
    service.request(item_id, os.fsencode(path), st.st_mtime_ns, st.st_size, kind)
    return st.st_mtime_ns


# -- results ----------------------------------------------------------------------------
def test_photos_and_a_video_arrive_as_images_and_stay_cached(qtbot, tmp_path, make_service):
    service, gated = make_service()
    got = Received(service)
    files = [
        write_photo(tmp_path / "astronaut.jpg"),
        write_photo(tmp_path / "coffee.png", "coffee"),
        write_video(tmp_path / "clip.avi", seconds=3),
    ]
    kinds: list[Kind] = ["photo", "photo", "video"]
    mtimes = [
        ask(service, i, f, kind) for i, (f, kind) in enumerate(zip(files, kinds, strict=True))
    ]
    qtbot.waitUntil(lambda: len(got.ready) == 3, timeout=20_000)
    assert sorted(got.ids) == [0, 1, 2] and got.failed == []
    sizes = {i: (image.width(), image.height()) for i, image in got.ready}
    assert sizes == {0: (256, 256), 1: (256, 171), 2: (160, 120)}
    assert threading.get_ident() not in gated.threads  # decoded off the GUI thread
    for i, mtime in enumerate(mtimes):
        pixmap = service.cached(i, mtime)
        assert pixmap is not None and (pixmap.width(), pixmap.height()) == sizes[i]
        assert service.cached(i, mtime + 1) is None  # another version of the file
    # Asking again for what is in memory does nothing.
    ask(service, 1, files[1])
    qtbot.wait(50)
    assert len(gated.calls) == 3 and service.pending == 0


def test_a_disk_hit_is_served_without_decoding_again(qtbot, tmp_path, cache, make_service):
    source = write_photo(tmp_path / "cat.jpg", "cat")
    st = source.stat()
    made = make_thumbnail(cache, os.fsencode(source), st.st_mtime_ns, st.st_size, "photo")
    before = made.stat()
    service, _ = make_service()
    got = Received(service)
    ask(service, 7, source)
    qtbot.waitUntil(lambda: len(got.ready) == 1, timeout=10_000)
    after = made.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert got.ready[0][1].width() == 256


def test_bad_files_fail_once_with_a_reason(qtbot, tmp_path, make_service):
    service, gated = make_service()
    got = Received(service)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 100)
    ask(service, 1, empty)
    ask(service, 2, notes, "video")
    qtbot.waitUntil(lambda: len(got.failed) == 2, timeout=10_000)
    reasons = dict(got.failed)
    assert "empty" in reasons[1] and "not a video" in reasons[2]
    assert service.failure(1, empty.stat().st_mtime_ns) == reasons[1]
    # A delegate repainting the failed item does not make the service try again...
    ask(service, 1, empty)
    qtbot.wait(100)
    assert len(gated.calls) == 2 and len(got.failed) == 2
    # ... but a new version of the file is tried.
    write_photo(empty, "rocket", size=(50, 80))
    os.utime(empty, ns=(empty.stat().st_mtime_ns + 10**9,) * 2)
    mtime = ask(service, 1, empty)
    qtbot.waitUntil(lambda: got.ids == [1], timeout=10_000)
    assert service.failure(1, mtime) is None and service.cached(1, mtime) is not None


def test_an_unwritable_cache_is_a_reason_not_a_crash(qtbot, tmp_path, make_service, cache):
    cache.parent.mkdir(parents=True)
    cache.write_text("a file where the cache folder should be")
    service, _ = make_service()
    got = Received(service)
    ask(service, 3, write_photo(tmp_path / "a.jpg"))
    qtbot.waitUntil(lambda: len(got.failed) == 1, timeout=10_000)
    assert got.failed[0][1].startswith("thumbnail cache not usable")


def test_a_damaged_cache_file_is_made_again(qtbot, tmp_path, cache, make_service):
    source = write_photo(tmp_path / "a.jpg", "chelsea")
    st = source.stat()
    damaged = thumbnail_path(cache, os.fsencode(source), st.st_mtime_ns, st.st_size, 256)
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"\xff\xd8 not really a jpeg")
    service, _ = make_service()
    got = Received(service)
    ask(service, 1, source)
    qtbot.waitUntil(lambda: len(got.ready) == 1, timeout=10_000)
    assert (got.ready[0][1].width(), got.ready[0][1].height()) == (256, 170)


# -- order, coalescing, dropping --------------------------------------------------------
def test_the_last_requested_is_served_first(qtbot, tmp_path, make_service):
    files = photos(tmp_path, 50)
    service, gated = make_service(closed=True)
    got = Received(service)
    for i, f in enumerate(files):
        ask(service, i, f)  # returns at once: the GUI thread never waits on a render
    qtbot.waitUntil(lambda: len(gated.calls) == 2, timeout=5_000)  # both threads busy
    assert service.pending == 50
    gated.gate.set()
    qtbot.waitUntil(lambda: len(got.ready) == 50, timeout=30_000)
    order = [files.index(Path(os.fsdecode(p))) for p in gated.calls]
    assert sorted(order) == list(range(50))  # each once
    assert 49 in order[:3]  # the two taken before the stack filled, then the newest
    assert set(range(10)) - set(order[:2]) <= set(order[-10:])  # the oldest come last
    assert _nearly_descending(order[2:])


def _nearly_descending(order: list[int]) -> bool:
    """Descending but for neighbours swapped by the two threads noting their calls."""
    ranked = sorted(order, reverse=True)
    return all(abs(order.index(value) - rank) <= 1 for rank, value in enumerate(ranked))


def test_repeated_requests_coalesce_and_move_to_the_top(qtbot, tmp_path, make_service):
    files = photos(tmp_path, 6)
    service, gated = make_service(closed=True, threads=1)
    got = Received(service)
    ask(service, 0, files[0])
    qtbot.waitUntil(lambda: len(gated.calls) == 1, timeout=5_000)
    for i in (1, 2, 3, 4, 5):
        ask(service, i, files[i])
    for _ in range(5):
        ask(service, 2, files[2])  # scrolled back to item 2
        ask(service, 0, files[0])  # being rendered: not queued again
    assert service.pending == 6
    gated.gate.set()
    qtbot.waitUntil(lambda: len(got.ready) == 6, timeout=20_000)
    order = [files.index(Path(os.fsdecode(p))) for p in gated.calls]
    assert order == [0, 2, 5, 4, 3, 1]


def test_requests_no_longer_visible_are_dropped(qtbot, tmp_path, make_service):
    files = photos(tmp_path, 12)
    service, gated = make_service(closed=True)
    got = Received(service)
    for i, f in enumerate(files):
        ask(service, i, f)
    qtbot.waitUntil(lambda: len(gated.calls) == 2, timeout=5_000)
    started = {files.index(Path(os.fsdecode(p))) for p in gated.calls}
    assert service.forget_except({3, 7, *started}) == 12 - len(started | {3, 7})
    gated.gate.set()
    qtbot.waitUntil(lambda: service.pending == 0, timeout=20_000)
    qtbot.wait(50)
    assert sorted(got.ids) == sorted(started | {3, 7})
    assert service.cancel_pending() == 0


def test_a_result_for_a_file_that_changed_meanwhile_is_dropped(qtbot, tmp_path, make_service):
    source = write_photo(tmp_path / "edited.jpg", "astronaut")  # square
    service, gated = make_service(closed=True, threads=1)
    got = Received(service)
    old = ask(service, 5, source)
    qtbot.waitUntil(lambda: len(gated.calls) == 1, timeout=5_000)  # rendering the old one
    write_photo(source, "coffee")  # the user edits the photo: now landscape
    os.utime(source, ns=(old + 10**9, old + 10**9))
    new = ask(service, 5, source)
    gated.gate.set()
    qtbot.waitUntil(lambda: service.pending == 0 and len(got.ready) == 1, timeout=10_000)
    qtbot.wait(50)
    assert service.stale_dropped == 1 and len(gated.calls) == 2
    image = got.ready[0][1]
    assert (image.width(), image.height()) == (256, 171)  # only the new picture is shown
    assert service.cached(5, old) is None
    pixmap = service.cached(5, new)
    assert pixmap is not None and pixmap.width() == 256 and pixmap.height() == 171


def test_the_ram_cache_keeps_the_most_recently_used(qtbot, tmp_path, make_service):
    files = photos(tmp_path, 5)
    service, _ = make_service(ram_entries=3)
    got = Received(service)
    mtimes = []
    for i, f in enumerate(files):
        mtimes.append(ask(service, i, f))
        qtbot.waitUntil(lambda i=i: len(got.ready) == i + 1, timeout=10_000)
        if i == 2:
            assert service.cached(0, mtimes[0]) is not None  # used: now most recent
    present = [i for i in range(5) if service.cached(i, mtimes[i]) is not None]
    assert present == [0, 3, 4]


def test_a_byte_budget_bounds_the_ram_cache(qtbot, tmp_path, make_service):
    files = photos(tmp_path, 4, size=(256, 256))
    service, _ = make_service(ram_bytes=256 * 256 * 4 * 2)  # two thumbnails' worth
    got = Received(service)
    mtimes = [ask(service, i, f) for i, f in enumerate(files)]
    qtbot.waitUntil(lambda: len(got.ready) == 4, timeout=10_000)
    assert sum(service.cached(i, m) is not None for i, m in enumerate(mtimes)) == 2


# -- shutdown ---------------------------------------------------------------------------
def test_shutdown_drops_the_queue_and_leaves_no_thread_running(qtbot, tmp_path, make_service):
    files = photos(tmp_path, 20)
    service, gated = make_service(closed=True)
    got = Received(service)
    for i, f in enumerate(files):
        ask(service, i, f)
    qtbot.waitUntil(lambda: len(gated.calls) == 2, timeout=5_000)
    opener = threading.Timer(0.3, gated.gate.set)  # the two renders finish during shutdown
    opener.start()
    assert service.shutdown(10_000)
    opener.join()
    assert service._pool.activeThreadCount() == 0
    assert len(gated.calls) == 2  # nothing queued was started
    qtbot.wait(100)  # results that were on their way are ignored
    assert got.ready == [] and got.failed == []
    ask(service, 0, files[0])  # after shutdown: ignored
    qtbot.wait(50)
    assert len(gated.calls) == 2 and service.pending == 0


def test_the_queue_keeps_the_newest_requests_whatever_the_scroll(qtbot, tmp_path, make_service):
    """A fast scroll through a long list asks for every cell it passes: only the newest
    requests wait, so neither the queue nor the renders behind it grow with the list."""
    files = photos(tmp_path, 30)
    service, gated = make_service(closed=True, threads=1, max_queued=8)
    got = Received(service)
    ask(service, 0, files[0])
    qtbot.waitUntil(lambda: len(gated.calls) == 1, timeout=5_000)  # rendering
    for i, f in enumerate(files[1:], start=1):
        ask(service, i, f)
    assert service.cache_size()[2] == 8
    assert service.pending == 9  # eight waiting, one rendering
    gated.gate.set()
    qtbot.waitUntil(lambda: service.pending == 0, timeout=20_000)
    qtbot.wait(50)
    assert sorted(got.ids) == [0, *range(22, 30)]
    ask(service, 3, files[3])  # a dropped cell painted again asks again
    qtbot.waitUntil(lambda: 3 in got.ids, timeout=10_000)
