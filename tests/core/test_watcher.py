"""The folder watcher, with real watchdog observers on real folders and real photos."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, EventEmitter

from app.core.captions import CaptionStore
from app.core.library import mounts as mounts_module
from app.core.library.library import Library
from app.core.library.mounts import remote_filesystem
from app.core.library.pending_changes import PendingChanges
from app.core.library.reconcile import ScanReport
from app.core.library.watcher import LibraryWatcher
from tests.media_factory import write_photo

TIMEOUT = 30.0  # generous: only ever reached when something is wrong


# -- helpers --------------------------------------------------------------------------


def eventually(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for: {what}")
        time.sleep(0.05)


def items(library: Library) -> dict[bytes, tuple[int, str, int, str]]:
    """path -> (id, state, size, folder) for every item row."""
    with library.db.read() as conn:
        rows = conn.exec_driver_sql("SELECT path, id, state, size, folder FROM media_items").all()
    return {row[0]: tuple(row[1:]) for row in rows}


def state_of(library: Library, path: Path) -> str | None:
    row = items(library).get(os.fsencode(path))
    return row[1] if row else None


def watch_state(library: Library, root_id: int) -> tuple[str, str | None]:
    root = next(r for r in library.roots() if r.id == root_id)
    return root.watch_state, root.watch_note


def photo_bytes(tmp_path: Path, name: str = "coffee") -> bytes:
    """A real JPEG, made outside the library."""
    return write_photo(tmp_path / f"source-{name}.jpg", name).read_bytes()


class ObserverThatCannotWatch(BaseObserver):
    """An observer on a system whose inotify watch limit is used up."""

    def __init__(self) -> None:
        super().__init__(EventEmitter)

    def schedule(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        raise OSError(errno.ENOSPC, "inotify watch limit reached")


@pytest.fixture
def root_dir(photo_dir: Path) -> Path:
    return Path(os.path.realpath(photo_dir))  # the library stores real paths


@pytest.fixture
def root_id(library: Library, root_dir: Path) -> int:
    return library.add_root(root_dir).id


@pytest.fixture
def reports() -> list[ScanReport]:
    return []


@pytest.fixture
def start_watcher(
    library: Library, reports: list[ScanReport]
) -> Iterator[Callable[..., LibraryWatcher]]:
    started: list[LibraryWatcher] = []

    def start(**options: object) -> LibraryWatcher:
        options.setdefault("debounce_s", 0.1)
        options.setdefault("stable_s", 0.1)
        options.setdefault("on_report", reports.append)
        watcher = LibraryWatcher(library, **options)  # type: ignore[arg-type]
        started.append(watcher)
        watcher.start()
        return watcher

    yield start
    for watcher in started:
        watcher.stop()


# -- following changes ------------------------------------------------------------------


def test_new_photo_is_indexed_and_probed(library, root_id, root_dir, start_watcher):
    watcher = start_watcher()
    assert watch_state(library, root_id) == ("watching", None)

    write_photo(root_dir / "astronaut.jpg")

    eventually(lambda: state_of(library, root_dir / "astronaut.jpg") == "ok", "photo probed")
    assert watcher.wait_idle(TIMEOUT)
    with library.db.read() as conn:
        width, height, kind = conn.exec_driver_sql(
            "SELECT width, height, kind FROM media_items"
        ).one()
    assert (width, height, kind) == (512, 512, "photo")


@pytest.mark.parametrize(
    ("debounce_s", "stable_s"),
    [(0.8, 0.05), (0.05, 0.8)],
    ids=["held-back-by-debounce", "held-back-by-stability-check"],
)
def test_photo_written_in_chunks_is_indexed_once_when_complete(
    library, root_id, root_dir, tmp_path, start_watcher, reports, debounce_s, stable_s
):
    data = photo_bytes(tmp_path)
    target = root_dir / "slow-copy.jpg"
    watcher = start_watcher(debounce_s=debounce_s, stable_s=stable_s)

    chunk = len(data) // 6 + 1
    with open(target, "wb") as out:
        for start in range(0, len(data), chunk):
            out.write(data[start : start + chunk])
            out.flush()
            time.sleep(0.2)  # well under both delays: never quiet, never stable

    eventually(lambda: state_of(library, target) == "ok", "the complete photo indexed")
    assert watcher.wait_idle(TIMEOUT)
    (item_id, state, size, _folder) = items(library)[os.fsencode(target)]
    assert (state, size) == ("ok", len(data))
    assert len(items(library)) == 1
    # Indexed once: a half-written file would have been "new", then "changed".
    assert sum(r.new for r in reports) == 1
    assert sum(r.changed for r in reports) == 0
    assert not [e for r in reports for e in r.errors]


def test_renamed_photo_keeps_its_item_and_caption(library, root_id, root_dir, start_watcher):
    watcher = start_watcher()
    old, new = root_dir / "IMG_0001.jpg", root_dir / "cat on the sofa.jpg"
    write_photo(old, "chelsea")
    eventually(lambda: state_of(library, old) == "ok", "photo indexed")
    item_id = items(library)[os.fsencode(old)][0]
    captions = CaptionStore(library.db)
    captions.add_user_caption(item_id, "Chelsea asleep on the sofa", ["cat"])

    os.rename(old, new)

    eventually(lambda: os.fsencode(new) in items(library), "item renamed")
    assert watcher.wait_idle(TIMEOUT)
    assert list(items(library)) == [os.fsencode(new)]  # no second row, nothing missing
    assert items(library)[os.fsencode(new)][:2] == (item_id, "ok")
    caption = captions.current(item_id)
    assert caption is not None and caption.text == "Chelsea asleep on the sofa"


def test_renamed_folder_moves_all_its_items(library, root_id, root_dir, start_watcher):
    watcher = start_watcher()
    album = root_dir / "untitled"
    names = ["a.jpg", "b.png", "nested/c.jpg"]
    for name, photo in zip(names, ["astronaut", "coffee", "rocket"], strict=True):
        write_photo(album / name, photo)
    eventually(lambda: len(items(library)) == 3, "three photos indexed")
    eventually(lambda: all(row[1] == "ok" for row in items(library).values()), "all probed")
    ids = {name: items(library)[os.fsencode(album / name)][0] for name in names}

    renamed = root_dir / "Summer 2024"
    os.rename(album, renamed)

    moved = {os.fsencode(renamed / name) for name in names}
    eventually(lambda: set(items(library)) == moved, "items follow the folder")
    assert watcher.wait_idle(TIMEOUT)
    now = items(library)
    assert {name: now[os.fsencode(renamed / name)][0] for name in names} == ids
    assert now[os.fsencode(renamed / "nested/c.jpg")][3] == f"{root_dir.name}/Summer 2024/nested"
    assert {row[1] for row in now.values()} == {"ok"}


def test_folder_moved_into_the_library_is_walked(
    library, root_id, root_dir, tmp_path, start_watcher, reports
):
    watcher = start_watcher()
    outside = tmp_path / "card" / "DCIM"
    for i, photo in enumerate(["astronaut", "coffee", "chelsea", "rocket"]):
        write_photo(outside / f"100CANON/IMG_{i}.jpg", photo)

    shutil.move(outside, root_dir / "Import")

    eventually(lambda: len(items(library)) == 4, "four photos indexed")
    assert watcher.wait_idle(TIMEOUT)
    assert {row[1] for row in items(library).values()} == {"ok"}
    assert sum(r.new for r in reports) == 4  # each seen once, though reported twice


def test_deleted_photo_is_marked_missing(library, root_id, root_dir, start_watcher):
    watcher = start_watcher()
    photo = write_photo(root_dir / "gone.jpg")
    eventually(lambda: state_of(library, photo) == "ok", "photo indexed")

    photo.unlink()

    eventually(lambda: state_of(library, photo) == "missing", "photo marked missing")
    assert watcher.wait_idle(TIMEOUT)


def test_other_files_and_hidden_folders_are_ignored(library, root_id, root_dir, start_watcher):
    watcher = start_watcher()
    (root_dir / "notes.txt").write_text("not a photo")
    write_photo(root_dir / ".thumbnails" / "thumb.jpg")
    write_photo(root_dir / "@eaDir" / "SYNOPHOTO_THUMB.jpg")
    write_photo(root_dir / "real.jpg")

    eventually(lambda: state_of(library, root_dir / "real.jpg") == "ok", "photo indexed")
    assert watcher.wait_idle(TIMEOUT)
    assert list(items(library)) == [os.fsencode(root_dir / "real.jpg")]


def test_burst_of_photos_is_indexed_in_batches_without_duplicates(
    library, root_id, root_dir, tmp_path, start_watcher, reports
):
    (root_dir / "burst").mkdir()  # before the watch: else the batch with it walks it all
    # A long debounce lets the whole burst pile up before the first batch.
    watcher = start_watcher(batch_size=100, debounce_s=1.0)
    jpeg = write_photo(tmp_path / "small.jpg", "astronaut", size=(48, 48)).read_bytes()
    count = 500
    for i in range(count):
        (root_dir / "burst" / f"IMG_{i:04d}.jpg").write_bytes(jpeg)

    eventually(lambda: len(items(library)) == count, f"{count} items", timeout=120)
    eventually(lambda: watcher.wait_idle(0.1), "watcher idle", timeout=120)
    rows = items(library)
    assert len({row[0] for row in rows.values()}) == count
    assert {row[1] for row in rows.values()} == {"ok"}
    assert sum(r.new for r in reports) == count  # each file inserted exactly once
    assert max(r.new for r in reports) == 100  # in full batches, none larger


def test_stop_is_prompt_and_leaves_no_thread_behind(library, root_id, root_dir, tmp_path):
    before = set(threading.enumerate())
    watcher = LibraryWatcher(library, debounce_s=0.05, stable_s=0.05)
    watcher.start()
    for i in range(150):  # keep it busy while it stops
        write_photo(root_dir / f"IMG_{i:04d}.jpg", "coffee", size=(64, 48))
    time.sleep(0.3)

    started = time.monotonic()
    watcher.stop()
    elapsed = time.monotonic() - started

    assert elapsed < 2.0
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []
    assert watch_state(library, root_id) == ("off", None)


# -- falling back to rescans --------------------------------------------------------------


def test_watch_limit_falls_back_to_rescans_starting_at_once(
    library, root_id, root_dir, start_watcher
):
    before = write_photo(root_dir / "before.jpg")  # added before the fallback: not missed

    start_watcher(observer_factory=ObserverThatCannotWatch)

    state, note = watch_state(library, root_id)
    assert state == "polling"
    assert note == (
        "folder watching unavailable (inotify watch limit reached); rescanning every 5 min"
    )
    eventually(lambda: state_of(library, before) == "ok", "immediate rescan")


def test_unwatchable_folder_is_rescanned_periodically(library, root_id, root_dir, start_watcher):
    library.settings.set("rescan_interval_s", 1.0)
    watcher = start_watcher(observer_factory=ObserverThatCannotWatch)
    assert watcher.wait_idle(TIMEOUT)  # the first rescan is done
    assert "rescanning every 1 s" in (watch_state(library, root_id)[1] or "")

    after = write_photo(root_dir / "later" / "after.jpg")

    eventually(lambda: state_of(library, after) == "ok", "periodic rescan")


def test_network_folder_is_rescanned_not_watched(library, tmp_path, start_watcher, monkeypatch):
    library.settings.set("rescan_interval_s", 1.0)
    share = Path(os.path.realpath(tmp_path)) / "NAS Photos"
    share.mkdir()
    root_id = library.add_root(share).id
    mounts = tmp_path / "mounts"
    escaped = str(share).replace(" ", "\\040")
    mounts.write_text(
        f"/dev/vda / ext4 rw,relatime 0 0\nnas:/volume1/photos {escaped} nfs4 rw,relatime 0 0\n"
    )
    monkeypatch.setattr(mounts_module, "MOUNTS_FILE", str(mounts))
    observers: list[BaseObserver] = []

    start_watcher(observer_factory=lambda: observers.append(Observer()) or observers[-1])

    assert observers == []  # not even tried
    state, note = watch_state(library, root_id)
    assert state == "polling"
    assert note is not None and "network folder (nfs4)" in note
    photo = write_photo(share / "from-phone.jpg")
    eventually(lambda: state_of(library, photo) == "ok", "periodic rescan")


@pytest.mark.parametrize(
    ("fstype", "remote"),
    [("nfs", True), ("cifs", True), ("fuse.sshfs", True), ("fuseblk", False), ("ext4", False)],
)
def test_remote_filesystems_are_told_from_local_ones(tmp_path, monkeypatch, fstype, remote):
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/vda / ext4 rw 0 0\nsrv:/x /mnt/photos {fstype} rw 0 0\n")
    monkeypatch.setattr(mounts_module, "MOUNTS_FILE", str(mounts))

    expected = fstype if remote else None
    assert remote_filesystem(b"/mnt/photos/2024") == expected  # on it
    assert remote_filesystem(b"/mnt") == expected  # mounted inside the folder
    assert remote_filesystem(b"/mnt/photos-local") is None  # a sibling, not inside


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify only")
def test_subfolder_over_the_watch_limit_falls_back_to_rescans(
    library, root_id, root_dir, start_watcher, monkeypatch
):
    # watchdog's inotify backend ignores a subfolder it could not watch; here the
    # kernel refuses one, as it does once fs.inotify.max_user_watches is used up.
    from watchdog.observers import inotify_c

    full = root_dir / "2024" / "Summer"
    full.mkdir(parents=True)
    add_watch = inotify_c.InotifyFD.add_callback

    def add_watch_within_limit(self, path, *args):
        if path == os.fsencode(full):
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return add_watch(self, path, *args)

    monkeypatch.setattr(inotify_c.InotifyFD, "add_callback", add_watch_within_limit)
    watcher = start_watcher()

    eventually(lambda: watch_state(library, root_id)[0] == "polling", "fallback")
    assert "inotify watch limit reached" in (watch_state(library, root_id)[1] or "")
    assert watcher.wait_idle(TIMEOUT)


def test_observer_that_dies_falls_back_to_rescans(library, root_id, root_dir, start_watcher):
    library.settings.set("rescan_interval_s", 1.0)
    observers: list[BaseObserver] = []
    start_watcher(observer_factory=lambda: observers.append(Observer()) or observers[-1])
    assert watch_state(library, root_id) == ("watching", None)

    observers[0].stop()  # as if its thread had crashed
    observers[0].join()

    eventually(lambda: watch_state(library, root_id)[0] == "polling", "fallback")
    assert "stopped unexpectedly" in (watch_state(library, root_id)[1] or "")
    photo = write_photo(root_dir / "after.jpg")
    eventually(lambda: state_of(library, photo) == "ok", "periodic rescan")


def test_events_lost_by_the_kernel_trigger_a_rescan(library, root_id, root_dir, start_watcher):
    unseen = write_photo(root_dir / "unseen.jpg")  # before the watch: no event for it
    watcher = start_watcher()
    assert watcher.wait_idle(TIMEOUT)
    assert items(library) == {}

    # What watchdog logs when the kernel's inotify queue overflows.
    logging.getLogger("watchdog.observers.inotify_c").warning(
        "Inotify queue overflowed; filesystem events were lost"
    )

    eventually(lambda: state_of(library, unseen) == "ok", "rescan after lost events")
    assert watch_state(library, root_id) == ("watching", None)


def test_failing_batch_or_callback_does_not_stop_the_watcher(
    library, root_id, root_dir, start_watcher, monkeypatch, caplog
):
    real_index_changes = library.indexer.index_changes
    calls = []

    def index_changes_failing_once(changes, **kwargs):
        calls.append(changes)
        if len(calls) == 1:
            raise RuntimeError("database exploded")
        return real_index_changes(changes, **kwargs)

    def broken_callback(report: ScanReport) -> None:
        raise ValueError("the GUI went away")

    monkeypatch.setattr(library.indexer, "index_changes", index_changes_failing_once)
    start_watcher(on_report=broken_callback)

    first = write_photo(root_dir / "first.jpg")
    eventually(lambda: state_of(library, first) == "ok", "failed batch recovered by a rescan")
    second = write_photo(root_dir / "second.jpg")
    eventually(lambda: state_of(library, second) == "ok", "later changes still indexed")
    assert len(calls) >= 2
    logged = caplog.text
    assert "database exploded" in logged and "the GUI went away" in logged


# -- coalescing (no observer: a fake clock drives the delays) -------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_create_modify_modify_coalesces_into_one_touch(tmp_path):
    clock = FakeClock()
    pending = PendingChanges(0.5, 0.0, clock=clock)
    path = os.fsencode(tmp_path / "not-written-yet.jpg")  # absent: needs no stability looks

    pending.touch(path)
    clock.now += 0.3
    pending.touch(path)
    clock.now += 0.3
    pending.touch(path)

    assert not pending.take_batch(10)  # the last event is only 0.0 s old
    clock.now += 0.5
    batch = pending.take_batch(10)
    assert (batch.touched, batch.removed, batch.moved) == ({path}, set(), [])
    assert pending.is_empty()


def test_created_then_deleted_leaves_only_a_removal(tmp_path):
    clock = FakeClock()
    pending = PendingChanges(0.5, 0.0, clock=clock)
    path = os.fsencode(tmp_path / "temp.jpg")

    pending.touch(path)
    pending.remove(path, is_dir=False)
    clock.now += 1

    batch = pending.take_batch(10)
    assert (batch.touched, batch.removed) == (set(), {path})


def test_moves_stay_in_order_and_carry_pending_touches(tmp_path):
    clock = FakeClock()
    pending = PendingChanges(0.5, 0.0, clock=clock)
    a, b, c = (os.fsencode(tmp_path / name) for name in ("a", "b", "c"))
    pending.touch(a + b"/new.jpg")
    pending.move(a, b, is_dir=True)
    pending.move(b, c, is_dir=True)
    clock.now += 1

    batch = pending.take_batch(10)
    assert batch.moved == [(a, b), (b, c)]
    assert batch.touched == {c + b"/new.jpg"}


def test_changes_wait_for_earlier_moves(tmp_path):
    clock = FakeClock()
    pending = PendingChanges(0.5, 0.0, clock=clock)
    a, b = os.fsencode(tmp_path / "a.jpg"), os.fsencode(tmp_path / "b.jpg")
    pending.move(a, b, is_dir=False)
    clock.now += 0.6
    pending.move(b, a, is_dir=False)
    pending.touch(os.fsencode(tmp_path / "other.jpg"))
    clock.now += 0.2

    assert pending.take_batch(10).moved == [(a, b)]
    assert pending.take_batch(10).touched == set()  # the second move is not quiet yet
    clock.now += 0.5
    assert pending.take_batch(10).moved == [(b, a)]


def test_a_file_still_growing_is_held_back_until_stable(tmp_path):
    clock = FakeClock()
    pending = PendingChanges(0.1, 0.3, clock=clock)
    photo = tmp_path / "copying.jpg"
    photo.write_bytes(b"\xff\xd8" + b"\0" * 100)
    pending.touch(os.fsencode(photo))
    clock.now += 0.2

    assert not pending.take_batch(10)  # first look
    with open(photo, "ab") as out:  # the copy goes on without a new event
        out.write(b"\0" * 100)
    clock.now += 0.3
    assert not pending.take_batch(10)  # changed since the first look
    clock.now += 0.2
    assert not pending.take_batch(10)  # unchanged, but not for stable_s yet
    clock.now += 0.2
    assert pending.take_batch(10).touched == {os.fsencode(photo)}


def test_batches_are_limited_and_skip_files_inside_a_new_folder(tmp_path):
    clock = FakeClock()
    pending = PendingChanges(0.1, 0.0, clock=clock)
    folder = tmp_path / "new-album"
    folder.mkdir()
    inside = [folder / f"{i}.jpg" for i in range(3)]
    loose = [tmp_path / f"loose-{i}.jpg" for i in range(5)]
    pending.touch(os.fsencode(folder))
    for path in inside + loose:
        path.write_bytes(b"\xff\xd8")
        pending.touch(os.fsencode(path))
    clock.now += 1
    assert not pending.take_batch(4)  # first looks

    first = pending.take_batch(4)
    second = pending.take_batch(4)
    third = pending.take_batch(4)

    # The folder is walked when indexed, so the files in it are not listed again.
    assert first.touched == {os.fsencode(folder)}
    assert len(second.touched) + len(third.touched) == 5
    assert second.touched | third.touched == {os.fsencode(path) for path in loose}
