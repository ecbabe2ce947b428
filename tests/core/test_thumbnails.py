"""Gallery thumbnails on disk: right size and content, made once, keyed by version.

Photos are scikit-image's real photographs; videos are written by OpenCV with a solid
colour per scene, so a thumbnail's colour tells which moment of the video it shows.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.media import thumbnails
from app.core.media.errors import MediaError
from app.core.media.thumbnails import make_thumbnail, prune, thumbnail_path
from tests.media_factory import (
    real_photo,
    set_mp4_rotation,
    write_corner_video,
    write_photo,
    write_truncated,
    write_video,
)

pytestmark = pytest.mark.timeout(60)


def version(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def thumb(cache: Path, path: Path | bytes, kind: str = "photo", side: int = 256) -> Path:
    st = os.stat(path)
    return make_thumbnail(cache, path, st.st_mtime_ns, st.st_size, kind, side)  # type: ignore[arg-type]


def jpegs(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.jpg"))


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "thumbnails" / "gallery"


@pytest.fixture
def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every photo decode make_thumbnail does (the real decoder, counted)."""
    calls: list[object] = []
    real = thumbnails.load_for_model

    def counted(path: bytes | str, max_side: int = 768) -> Image.Image:
        calls.append(path)
        return real(path, max_side=max_side)

    monkeypatch.setattr(thumbnails, "load_for_model", counted)
    return calls


# -- photos -----------------------------------------------------------------------------
def test_a_photo_thumbnail_is_a_small_jpeg_of_the_photo(tmp_path, cache):
    source = write_photo(tmp_path / "coffee.jpg", "coffee", size=(1200, 800), quality=92)
    made = thumb(cache, source)
    assert made.parent.parent == cache and made.parent.name == made.stem[:2]
    with Image.open(made) as image:
        assert image.format == "JPEG" and image.mode == "RGB"
        assert image.size == (256, 171)  # longest side 256, aspect kept
        ours = np.asarray(image, dtype=float)
    expected = np.asarray(Image.fromarray(real_photo("coffee")).resize((256, 171)), dtype=float)
    assert np.abs(ours - expected).mean() < 12  # the same picture, not just the same size
    assert made.stat().st_size < 30_000


def test_a_small_photo_is_not_enlarged_and_side_is_honoured(tmp_path, cache):
    source = write_photo(tmp_path / "chelsea.png", "chelsea")  # 451x300
    with Image.open(thumb(cache, source, side=512)) as image:
        assert image.size == (451, 300)
    with Image.open(thumb(cache, source, side=100)) as image:
        assert image.size == (100, 67)
    assert len(jpegs(cache)) == 2  # the side is part of the key


def test_exif_orientation_is_applied(tmp_path, cache):
    source = write_photo(tmp_path / "tall.jpg", "rocket", size=(1500, 1000), orientation=6)
    with Image.open(thumb(cache, source)) as image:
        assert image.size == (171, 256)


def test_a_cache_hit_returns_the_same_file_without_decoding(tmp_path, cache, count_decodes):
    source = write_photo(tmp_path / "astronaut.jpg")
    first = thumb(cache, source)
    made = first.stat()
    assert len(count_decodes) == 1
    again = thumb(cache, source)
    assert again == first
    assert len(count_decodes) == 1
    after = again.stat()
    assert (after.st_ino, after.st_mtime_ns) == (made.st_ino, made.st_mtime_ns)


def test_a_changed_file_gets_a_new_key_and_a_new_thumbnail(tmp_path, cache, count_decodes):
    source = write_photo(tmp_path / "photo.jpg", "astronaut")
    old = thumb(cache, source)
    mtime, size = version(source)
    write_photo(source, "coffee")  # replaced in place by another photo
    os.utime(source, ns=(mtime + 5_000_000_000, mtime + 5_000_000_000))
    new = thumb(cache, source)
    assert new != old and len(count_decodes) == 2
    with Image.open(old) as a, Image.open(new) as b:
        assert a.size == (256, 256) and b.size == (256, 171)  # astronaut, then coffee


def test_the_key_covers_path_mtime_size_and_side(cache):
    base = thumbnail_path(cache, b"/p/a.jpg", 1, 2, 256)
    assert base == thumbnail_path(cache, "/p/a.jpg", 1, 2, 256)  # str and bytes agree
    others = {
        thumbnail_path(cache, b"/p/b.jpg", 1, 2, 256),
        thumbnail_path(cache, b"/p/a.jpg", 3, 2, 256),
        thumbnail_path(cache, b"/p/a.jpg", 1, 4, 256),
        thumbnail_path(cache, b"/p/a.jpg", 1, 2, 128),
    }
    assert base not in others and len(others) == 4


def test_a_name_that_is_not_utf8_works(tmp_path, cache):
    source = write_photo(tmp_path / "plain.jpg", "cat")
    odd = os.fsencode(tmp_path) + b"/caf\xe9.jpg"
    os.rename(source, odd)
    made = thumb(cache, odd)
    assert made.exists() and made.name.isascii()


def test_two_threads_making_the_same_thumbnail_agree(tmp_path, cache):
    source = write_photo(tmp_path / "rocket.jpg", "rocket", size=(2400, 3600))
    results: list[Path] = []
    workers = [
        threading.Thread(target=lambda: results.append(thumb(cache, source))) for _ in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(set(results)) == 1 and len(results) == 4
    with Image.open(results[0]) as image:
        image.load()  # whole, never half-written
        assert image.size == (171, 256)
    assert [p.name for p in cache.rglob("*") if p.is_file()] == [results[0].name]


# -- bad files --------------------------------------------------------------------------
def test_empty_corrupt_truncated_and_missing_photos_are_media_errors(tmp_path, cache):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("shopping list: eggs, milk\n")
    good = write_photo(tmp_path / "good.jpg")
    write_truncated(tmp_path / "half.jpg", good, keep=0.4)
    reasons = {}
    for name in ("empty.jpg", "notes.jpg", "half.jpg"):
        with pytest.raises(MediaError) as caught:
            thumb(cache, tmp_path / name)
        reasons[name] = caught.value.reason
    assert "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    assert "truncated" in reasons["half.jpg"]
    with pytest.raises(MediaError):
        make_thumbnail(cache, tmp_path / "gone.jpg", 1, 1, "photo")
    assert jpegs(cache) == []  # nothing cached for a failure


def test_a_bad_kind_or_side_is_a_programming_error(tmp_path, cache):
    source = write_photo(tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="kind"):
        make_thumbnail(cache, source, 1, 1, "audio")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="side"):
        make_thumbnail(cache, source, 1, 1, "photo", side=0)


# -- videos -----------------------------------------------------------------------------
GREEN = (40, 200, 40)  # write_video's second scene, as RGB
RED = (200, 40, 40)  # its first scene, as RGB


def centre(image: Image.Image) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(image)[image.height // 2, image.width // 2])


def close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 30) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_a_video_thumbnail_shows_a_frame_a_tenth_of_the_way_in(tmp_path, cache, suffix):
    # First scene (red) for 0.5 s, then green until 9 s: the 1 s mark is green.
    source = write_video(tmp_path / f"clip{suffix}", seconds=10, cuts=(0.5, 9.0))
    made = thumb(cache, source, "video", side=80)
    with Image.open(made) as image:
        assert image.size == (80, 60)
        assert close(centre(image), GREEN), centre(image)


def test_a_one_frame_video_gives_its_only_frame(tmp_path, cache):
    source = write_video(tmp_path / "still.avi", seconds=0.1)
    with Image.open(thumb(cache, source, "video")) as image:
        assert image.size == (160, 120)  # never enlarged
        assert close(centre(image), RED), centre(image)


@pytest.mark.parametrize(("degrees", "red_at"), [(0, (0, 0)), (90, (0, 1)), (270, (1, 0))])
def test_a_phone_video_thumbnail_is_upright(tmp_path, cache, degrees, red_at):
    source = set_mp4_rotation(write_corner_video(tmp_path / "phone.mp4"), degrees)
    with Image.open(thumb(cache, source, "video", side=64)) as image:
        assert image.size == ((38, 64) if degrees in (90, 270) else (64, 38))
        pixels = np.asarray(image).astype(int)
    rows, cols = np.nonzero((pixels[..., 0] > 180) & (pixels[..., 1] < 90))
    height, width = pixels.shape[:2]
    assert (round(rows.mean() / height), round(cols.mean() / width)) == red_at


def test_a_truncated_avi_still_gets_a_thumbnail(tmp_path, cache):
    full = write_video(tmp_path / "full.avi", seconds=10, cuts=(0.5,))
    source = write_truncated(tmp_path / "cut.avi", full, keep=0.5)
    with Image.open(thumb(cache, source, "video")) as image:
        assert image.size == (160, 120)


def test_empty_and_corrupt_videos_are_media_errors(tmp_path, cache):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(7).bytes(50_000))
    with pytest.raises(MediaError, match="empty"):
        thumb(cache, tmp_path / "empty.mp4", "video")
    with pytest.raises(MediaError, match="not a video"):
        thumb(cache, tmp_path / "noise.mp4", "video")
    assert jpegs(cache) == []


# -- pruning ----------------------------------------------------------------------------
def test_prune_removes_the_least_recently_used_first(tmp_path, cache):
    made = []
    for i, name in enumerate(["astronaut", "coffee", "chelsea", "rocket", "cat"] * 2):
        source = write_photo(tmp_path / f"{i}.jpg", name, size=(300 + i, 300))
        made.append(thumb(cache, source))
    now = time.time()
    for age, path in enumerate(reversed(made)):  # made[0] is the oldest used
        os.utime(path, (now - 100 * age, now - 100 * age))
    sizes = [p.stat().st_size for p in made]
    limit = sum(sizes[4:]) + 1  # room for the six most recent, barely
    result = prune(cache, limit)
    gone = [p for p in made if not p.exists()]
    assert gone == made[: len(gone)] and len(gone) >= 4  # oldest first, nothing else
    assert result.removed == len(gone)
    assert result.freed_bytes == sum(sizes[: len(gone)])
    assert result.kept_bytes == sum(p.stat().st_size for p in jpegs(cache))
    assert result.kept_bytes <= limit * thumbnails.PRUNE_TO


def test_prune_under_the_limit_keeps_everything_but_stray_temp_files(tmp_path, cache):
    kept = thumb(cache, write_photo(tmp_path / "a.jpg"))
    stray = kept.parent / ".x.jpg.abc.tmp"
    stray.write_bytes(b"half a jpeg")
    fresh = kept.parent / ".y.jpg.def.tmp"
    fresh.write_bytes(b"being written right now")
    old = time.time() - 2 * thumbnails.STRAY_TEMP_AGE_S
    os.utime(stray, (old, old))
    result = prune(cache, 10_000_000)
    assert kept.exists() and fresh.exists() and not stray.exists()
    assert (result.removed, result.freed_bytes) == (1, len(b"half a jpeg"))


def test_prune_of_a_missing_cache_is_a_no_op(tmp_path):
    assert prune(tmp_path / "nothing-here", 0).removed == 0


def test_a_hit_marks_an_old_thumbnail_as_recently_used(tmp_path, cache, count_decodes):
    source = write_photo(tmp_path / "a.jpg")
    made = thumb(cache, source)
    old = time.time() - 2 * thumbnails.TOUCH_AFTER_S
    os.utime(made, (old, old))
    assert thumb(cache, source) == made and len(count_decodes) == 1
    assert made.stat().st_mtime > time.time() - 60
