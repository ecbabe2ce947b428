"""Bad input during a scan: each bad file is a per-item error with a clear reason, the
scan completes, and the good files beside it are indexed. Also odd names (undecodable
bytes, long, quotes, newlines, emoji) and files or folders the user cannot read.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import shutil
import site
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.captions import CaptionStore
from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.storage.db import Database
from app.core.storage.schema import MediaItem
from tests.core.scan_support import fs, item_at, items, jobs_by_item
from tests.media_factory import (
    write_bmp_header,
    write_gif_header,
    write_photo,
    write_png_header,
    write_truncated,
    write_video,
)

REPO = Path(__file__).resolve().parents[2]
HEIF_INSTALLED = importlib.util.find_spec("pillow_heif") is not None


def _truncated_jpeg(folder: Path) -> Path:
    full = write_photo(folder / "cut.jpg", "chelsea")
    return write_truncated(full, full)


def _truncated_png(folder: Path) -> Path:
    full = write_photo(folder / "cut.png", "coffee", size=(200, 150))
    return write_truncated(full, full)


def _text_as_jpeg(folder: Path) -> Path:
    path = folder / "notes.jpg"
    path.write_text("Shopping list: eggs, milk, film for the camera.\n")
    return path


def _random_mp4(folder: Path) -> Path:
    path = folder / "noise.mp4"
    path.write_bytes(os.urandom(20_000))
    return path


def _empty(folder: Path) -> Path:
    path = folder / "empty.jpg"
    path.touch()
    return path


def _heic(folder: Path) -> Path:
    # Without pillow-heif the probe must refuse by extension, whatever the bytes are.
    path = folder / "IMG_0001.heic"
    path.write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + os.urandom(2000))
    return path


# id -> (builder, reason pattern)
BAD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "zero-byte": (_empty, r"empty file"),
    "truncated-jpeg": (_truncated_jpeg, r"truncated"),
    "truncated-png": (_truncated_png, r"truncated"),
    "text-named-jpg": (_text_as_jpeg, r"not an image"),
    "random-bytes-mp4": (_random_mp4, r"not a video"),
    # Beyond twice Image.MAX_IMAGE_PIXELS Pillow itself refuses at open().
    "bomb-png-30000x30000-1bit": (
        lambda d: write_png_header(d / "bomb.png", 30000, 30000),
        r"too large",
    ),
    # 400 MP: above the app's 300 MP limit but below Pillow's hard error (600 MP).
    "bomb-png-20000x20000-grey": (
        lambda d: write_png_header(d / "big.png", 20000, 20000, bit_depth=8),
        r"too large",
    ),
    "bomb-bmp-20000x20000": (lambda d: write_bmp_header(d / "big.bmp", 20000, 20000), r"too large"),
    "bomb-gif-20000x20000": (lambda d: write_gif_header(d / "big.gif", 20000, 20000), r"too large"),
    "heic-without-pillow-heif": (_heic, r"pillow-heif"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_a_per_item_error(
    library: Library, db: Database, photo_dir: Path, case: str
) -> None:
    if case.startswith("heic") and HEIF_INSTALLED:
        pytest.skip("pillow-heif is installed: HEIC files are readable")
    builder, reason = BAD_FILES[case]
    bad = builder(photo_dir)
    good = write_photo(photo_dir / "good.jpg", size=(40, 30))

    started = time.monotonic()
    report = library.scan(library.add_root(photo_dir).id)
    elapsed = time.monotonic() - started

    assert elapsed < 3, f"scan took {elapsed:.1f}s"
    assert [e.path for e in report.errors] == [str(bad)]
    assert re.search(reason, report.errors[0].reason), report.errors[0].reason
    item = item_at(db, bad)
    assert (item.state, item.last_error) == ("error", report.errors[0].reason)
    assert item.width is None and item.height is None
    ok = item_at(db, good)
    assert (ok.state, ok.width, ok.height) == ("ok", 40, 30)
    assert jobs_by_item(db) == {ok.id: 1}
    status = library.status()
    assert (status.items, status.errors) == (2, 1)


def test_broken_symlink_is_reported_as_a_broken_link(
    library: Library, db: Database, photo_dir: Path
) -> None:
    good = write_photo(photo_dir / "good.jpg", size=(40, 30))
    link = photo_dir / "gone.jpg"
    os.symlink(photo_dir / "deleted-long-ago.jpg", link)

    report = library.scan(library.add_root(photo_dir).id)

    assert [e.path for e in report.errors] == [str(link)]
    assert re.search(r"\blink\b", report.errors[0].reason), report.errors[0].reason
    assert fs(link) not in items(db) or item_at(db, link).state == "error"
    assert item_at(db, good).state == "ok"


def test_many_bad_files_in_one_scan(library: Library, db: Database, photo_dir: Path) -> None:
    """All kinds of bad input together, among good files in the same probe batches."""
    bad = []
    for name, (builder, _reason) in BAD_FILES.items():
        if name.startswith("heic") and HEIF_INSTALLED:
            continue
        folder = photo_dir / name
        folder.mkdir()
        bad.append(builder(folder))
    good = [write_photo(photo_dir / f"good{i}.jpg", size=(20 + i, 20)) for i in range(5)]
    good.append(write_video(photo_dir / "good.avi", seconds=1.0))

    report = library.scan(library.add_root(photo_dir).id)

    assert sorted(e.path for e in report.errors) == sorted(str(p) for p in bad)
    assert report.new == len(bad) + len(good)
    found = items(db)
    assert {found[fs(p)].state for p in bad} == {"error"}
    assert {found[fs(p)].state for p in good} == {"ok"}
    assert set(jobs_by_item(db)) == {found[fs(p)].id for p in good}


# -- names -------------------------------------------------------------------------------


def test_undecodable_names_round_trip(library: Library, db: Database, photo_dir: Path) -> None:
    photo = os.path.join(fs(photo_dir), b"caf\xe9.jpg")  # Latin-1 "café": not UTF-8
    video = os.path.join(fs(photo_dir), b"clip\xff\xfe.avi")
    source = write_photo(photo_dir.parent / "src.jpg", size=(30, 20))
    shutil.copyfile(source, photo)
    shutil.copyfile(write_video(photo_dir.parent / "src.avi", seconds=1.0), video)
    root = library.add_root(photo_dir)

    first = library.scan(root.id)

    assert first.errors == [] and first.new == 2
    assert set(items(db)) == {photo, video}
    assert (item_at(db, photo).state, item_at(db, photo).width) == ("ok", 30)
    assert (item_at(db, video).state, item_at(db, video).duration) == ("ok", pytest.approx(1.0))
    assert item_at(db, photo).name == "caf\ufffd.jpg"  # lossy text copy for display
    with db.session() as session:
        stored = {os.fsencode(m.path) for m in session.query(MediaItem)}
    assert stored == {photo, video}  # the ORM's str path re-encodes to the exact bytes

    again = library.scan(root.id)
    assert (again.unchanged, again.new, again.changed, again.moved, again.missing) == (
        2,
        0,
        0,
        0,
        0,
    )
    assert again.errors == []


ODD_NAMES = (
    "x" * 250 + ".jpg",  # 254 bytes: just under NAME_MAX
    "é" * 125 + ".png",  # 254 bytes of two-byte characters
    "v" * 250 + ".avi",
    "my holiday photo.jpg",
    'it\'s a "quoted" name.jpg',
    "line\nbreak.jpg",
    "tab\there.jpeg",
    "🌅 sunset 🏖️.jpg",
    "100% [draft] (1) & {x} $HOME `ls`.jpg",
    "-rf --help.jpg",
    "back\\slash.jpg",
    "clip 🎬 'one'\n.mp4",
)


def test_odd_but_valid_names(library: Library, db: Database, photo_dir: Path) -> None:
    photo = write_photo(photo_dir.parent / "src.jpg", size=(30, 20)).read_bytes()
    png = write_photo(photo_dir.parent / "src.png", size=(30, 20)).read_bytes()
    avi = write_video(photo_dir.parent / "src.avi", seconds=1.0).read_bytes()
    video = write_video(photo_dir.parent / "src.mp4", seconds=1.0).read_bytes()
    content = {".jpg": photo, ".jpeg": photo, ".png": png, ".avi": avi, ".mp4": video}
    for name in ODD_NAMES:
        (photo_dir / name).write_bytes(content[os.path.splitext(name)[1]])
    root = library.add_root(photo_dir)

    report = library.scan(root.id)

    assert report.errors == []
    assert report.new == len(ODD_NAMES)
    for name in ODD_NAMES:
        item = item_at(db, photo_dir / name)
        assert (item.state, item.name) == ("ok", name), name
        if item.kind == "photo":
            assert item.width == 30, name
        else:
            assert item.duration == pytest.approx(1.0), name
    again = library.scan(root.id)
    assert (again.unchanged, again.new, again.missing) == (len(ODD_NAMES), 0, 0)


# -- unreadable files and folders --------------------------------------------------------
# chmod 000 does not stop root, and CI runs as root: there the scan runs in a child
# process that has dropped to the unprivileged user "nobody".


def _unprivileged() -> dict[str, object]:
    if os.geteuid() != 0:
        return {}  # chmod already applies to us
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and there is no user 'nobody' to drop to")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def _run(python: str, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        # The venv's packages, for an interpreter outside it (see unprivileged_python).
        "PYTHONPATH": os.pathsep.join([str(REPO), *site.getsitepackages()]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    return subprocess.run(
        [python, "-s", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **_unprivileged(),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def unprivileged_python() -> str:
    """An interpreter the unprivileged user can run with the app's packages.

    The venv's python may be a symlink into a folder only root can enter (pyenv
    under /root), so fall back to a system interpreter of the same version.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        sys.executable,
        os.path.realpath(sys.executable),
        shutil.which(f"python{version}"),
        f"/usr/bin/python{version}",
        f"/usr/local/bin/python{version}",
    ]
    failures = []
    for python in dict.fromkeys(c for c in candidates if c):
        try:
            result = _run(python, ["-c", "import app.cli.main"])
        except OSError as exc:
            failures.append(f"{python}: {exc}")
            continue
        if result.returncode == 0:
            return python
        failures.append(f"{python}: {result.stderr.strip()[-300:]}")
    pytest.skip("no interpreter the unprivileged user can run the app with: " + "; ".join(failures))


@pytest.fixture
def shared_tmp(unprivileged_python: str) -> Iterator[Path]:
    """A temporary folder the unprivileged user can traverse (pytest's is root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="captionist-perm-"))
    folder.chmod(0o755)
    yield folder
    for dirpath, dirs, _files in os.walk(folder):  # top-down: opens each before entering
        for d in dirs:
            os.chmod(os.path.join(dirpath, d), 0o755)
    shutil.rmtree(folder)


def _hand_over(*folders: Path) -> None:
    """Make these trees usable by the unprivileged user (owner, when we are root)."""
    ids = _unprivileged()
    for folder in folders:
        for dirpath, dirs, files in os.walk(folder):
            for name in [dirpath, *(os.path.join(dirpath, n) for n in dirs + files)]:
                if ids:
                    os.chown(name, ids["user"], ids["group"])  # type: ignore[arg-type]
                mode = os.stat(name).st_mode
                os.chmod(
                    name,
                    mode
                    | stat.S_IRUSR
                    | stat.S_IWUSR
                    | (stat.S_IXUSR if stat.S_ISDIR(mode) else 0),
                )


def _readable_by_all(folder: Path) -> None:
    """Whatever the umask, let the unprivileged user read the photos."""
    for dirpath, _dirs, files in os.walk(folder):
        os.chmod(dirpath, 0o755)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)


def _cli_scan(python: str, data: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    _hand_over(data)
    result = _run(python, ["main.py", "--data-dir", str(data), "scan", str(folder)])
    assert result.returncode == 0, result.stderr
    print(result.stdout)
    return result


def _error_lines(output: str) -> dict[str, str]:
    return dict(
        line.strip().removeprefix("error: ").rsplit(": ", 1)
        for line in output.splitlines()
        if line.strip().startswith("error: ")
    )


def test_unreadable_file_and_folder_are_errors_and_the_rest_is_indexed(
    shared_tmp: Path, unprivileged_python: str
) -> None:
    photos, data = shared_tmp / "photos", shared_tmp / "data"
    readable = write_photo(photos / "open" / "a.jpg", size=(40, 30))
    locked_photo = write_photo(photos / "locked" / "b.jpg", "coffee", size=(40, 30))
    secret = write_photo(photos / "secret.jpg", "cat", size=(40, 30))
    data.mkdir()
    _readable_by_all(photos)
    secret.chmod(0)
    locked_photo.parent.chmod(0)

    result = _cli_scan(unprivileged_python, data, photos)

    errors = _error_lines(result.stdout)
    assert set(errors) == {str(locked_photo.parent), str(secret)}, result.stdout
    assert all("permission denied" in reason for reason in errors.values()), errors
    db = Database(DataDir.resolve(data).database)
    try:
        assert item_at(db, readable).state == "ok"
        assert (item_at(db, secret).state, item_at(db, secret).last_error) == (
            "error",
            errors[str(secret)],
        )
        assert fs(locked_photo) not in items(db)
    finally:
        db.close()


@pytest.mark.parametrize("locked", ["subfolder", "root"])
def test_unreadable_folder_does_not_make_its_items_missing(
    shared_tmp: Path, unprivileged_python: str, locked: str
) -> None:
    photos, data = shared_tmp / "photos", shared_tmp / "data"
    inside = write_photo(photos / "album" / "b.jpg", "coffee", size=(40, 30))
    kept = write_photo(photos / "a.jpg", size=(40, 30))
    deleted = write_photo(photos / "gone.jpg", "cat", size=(40, 30))
    db = Database(DataDir.resolve(data).database)
    library = Library(db)
    library.scan(library.add_root(photos).id)
    before = items(db)
    CaptionStore(db).add_user_caption(before[fs(inside)].id, "our cat on the sofa")
    db.close()
    deleted.unlink()
    _readable_by_all(photos)
    target = photos / "album" if locked == "subfolder" else photos
    _hand_over(data)
    target.chmod(0)

    result = _cli_scan(unprivileged_python, data, photos)

    target.chmod(0o755)
    assert set(_error_lines(result.stdout)) == {str(target)}, result.stdout
    db = Database(DataDir.resolve(data).database)
    try:
        after = items(db)
        assert after[fs(inside)].state == "ok"
        assert after[fs(inside)].id == before[fs(inside)].id
        assert CaptionStore(db).current(after[fs(inside)].id).text == "our cat on the sofa"
        if locked == "subfolder":  # a readable folder that no longer lists a file: gone
            assert after[fs(kept)].state == "ok"
            assert after[fs(deleted)].state == "missing"
            assert ", 1 missing," in result.stdout
        else:  # nothing could be read: nothing is declared missing
            assert {i.state for i in after.values()} == {"ok"}
            assert ", 0 missing," in result.stdout
    finally:
        db.close()


def test_file_made_readable_again_is_reprobed(shared_tmp: Path, unprivileged_python: str) -> None:
    """A "permission denied" says nothing about the file itself: once the user fixes the
    permissions (chmod changes neither size nor modification time), a rescan must
    index the photo instead of keeping the stale error forever."""
    photos, data = shared_tmp / "photos", shared_tmp / "data"
    secret = write_photo(photos / "secret.jpg", "cat", size=(40, 30))
    write_photo(photos / "a.jpg", size=(40, 30))
    data.mkdir()
    _readable_by_all(photos)
    secret.chmod(0)
    _cli_scan(unprivileged_python, data, photos)
    secret.chmod(0o644)

    result = _cli_scan(unprivileged_python, data, photos)

    assert _error_lines(result.stdout) == {}
    db = Database(DataDir.resolve(data).database)
    try:
        item = item_at(db, secret)
        assert (item.state, item.last_error, item.width) == ("ok", None, 40)
        assert item.id in jobs_by_item(db)
    finally:
        db.close()
