"""Captions written out as XMP, read back by exiftool (an independent reader): sidecars by
default, embedded on request with the pixels untouched, other apps' fields kept, the
user's words winning, and every file that cannot take it reported on its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.captions import CaptionStore
from app.core.library.library import Library
from app.core.metadata.write_back import write_metadata
from app.core.metadata.xmp import sidecar_path
from app.core.settings import Settings
from tests.caption_support import store_model_caption
from tests.media_factory import write_photo, write_video

pytestmark = pytest.mark.skipif(
    shutil.which("exiftool") is None, reason="Debian libimage-exiftool-perl"
)
CAPTION = "Une astronaute sourit — « été » 2024, naïve & <sûre>"
TAGS = ["astronaute", "espace", "NASA", "smile, wide"]


def exiftool(path: Path, *tags: str) -> dict[str, object]:
    out = subprocess.run(
        ["exiftool", "-j", "-struct", *tags, str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return json.loads(out)[0]


def indexed(library: Library, folder: Path) -> dict[str, int]:
    root = library.add_root(folder)
    library.scan(root.id)
    with library.db.read() as conn:
        rows = conn.exec_driver_sql("SELECT name, id FROM media_items").all()
    return {name: item for name, item in rows}


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def test_sidecar_by_default_read_back_exactly_by_exiftool(library: Library, tmp_path: Path) -> None:
    photo = write_photo(tmp_path / "p" / "astronaute.jpg", "astronaut")
    before = photo.read_bytes()
    item = indexed(library, tmp_path / "p")["astronaute.jpg"]
    store_model_caption(
        library.db, item, CAPTION, TAGS, language="Français", model_id="smolvlm2-256m",
        prompt_id="short", adapter_id="smolvlm2-256m-v3",
    )  # fmt: skip
    report = write_metadata(library.db, [item])
    assert report.written == {item: sidecar_path(photo)} and not report.errors
    assert photo.read_bytes() == before  # the photo itself is not touched

    read = exiftool(sidecar_path(photo), "-XMP:all")
    assert read["Description"] == CAPTION
    assert read["Description-fr"] == CAPTION
    assert read["Subject"] == TAGS
    assert read["Source"] == "ai"
    assert read["Model"] == "smolvlm2-256m"
    assert read["Prompt"] == "short"
    assert read["Adapter"] == "smolvlm2-256m-v3"


def test_the_users_caption_is_written_and_marked_as_theirs(
    library: Library, tmp_path: Path
) -> None:
    photo = write_photo(tmp_path / "p" / "a.png", "coffee")
    item = indexed(library, tmp_path / "p")["a.png"]
    store = CaptionStore(library.db)
    store_model_caption(library.db, item, "A cup.", ["cup"], model_id="m", prompt_id="short")
    write_metadata(library.db, [item])
    store.add_user_caption(item, "Mon espresso du matin ☕", ["café"])
    store_model_caption(library.db, item, "A later AI caption.", ["later"], model_id="m")  # loses
    write_metadata(library.db, [item])
    read = exiftool(sidecar_path(photo), "-XMP:all")
    assert read["Description"] == "Mon espresso du matin ☕"
    assert read["Subject"] == ["café"]
    assert read["Source"] == "me"
    assert "Model" not in read and "Prompt" not in read  # no AI provenance on your words
    store.add_user_caption(item, "Sans étiquettes", [])  # tags removed: none left in the file
    write_metadata(library.db, [item])
    read = exiftool(sidecar_path(photo), "-XMP:all")
    assert read["Description"] == "Sans étiquettes" and read.get("Subject", "") in ("", [])


def test_other_apps_sidecar_fields_are_kept(library: Library, tmp_path: Path) -> None:
    photo = write_photo(tmp_path / "p" / "b.jpg", "rocket")
    sidecar = sidecar_path(photo)
    subprocess.run(
        ["exiftool", "-q", "-o", str(sidecar), "-XMP-dc:Creator=Ana Ruiz", "-XMP-xmp:Rating=4",
         "-XMP-dc:Description=old words", "-XMP-lr:HierarchicalSubject=Trips|Florida",
         str(photo)],
        check=True, timeout=60,
    )  # fmt: skip
    item = indexed(library, tmp_path / "p")["b.jpg"]
    CaptionStore(library.db).add_user_caption(item, "Launch day", ["rocket"])
    assert not write_metadata(library.db, [item]).errors
    read = exiftool(sidecar, "-XMP:all")
    assert read["Description"] == "Launch day"
    assert read["Creator"] == ["Ana Ruiz"]
    assert read["Rating"] == 4
    assert read["HierarchicalSubject"] == ["Trips|Florida"]


@pytest.mark.parametrize("name", ["e.jpg", "e.png", "e.webp", "e.tif"])
def test_embedding_keeps_pixels_and_foreign_fields_and_is_not_a_change(
    library: Library, tmp_path: Path, name: str
) -> None:
    photo = write_photo(tmp_path / "p" / name, "chelsea")
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", "-XMP-dc:Creator=Ana Ruiz",
         "-XMP-dc:Rights=CC BY 4.0", str(photo)],
        check=True, timeout=60,
    )  # fmt: skip
    decoded = pixels(photo)
    item = indexed(library, tmp_path / "p")[name]
    Settings(library.db).set("metadata_write", "embed")
    CaptionStore(library.db).add_user_caption(item, CAPTION, TAGS, language="fr")
    report = write_metadata(library.db, [item])
    assert report.written == {item: photo} and not report.errors
    assert not sidecar_path(photo).exists()

    assert np.array_equal(pixels(photo), decoded)
    read = exiftool(photo, "-XMP:all")
    assert read["Description"] == CAPTION and read["Subject"] == TAGS
    assert read["Creator"] == ["Ana Ruiz"] and read["Rights"] == "CC BY 4.0"
    assert not list(photo.parent.glob(".*partial"))  # no leftovers of the atomic write
    assert sorted(photo.parent.iterdir()) == [photo]
    # The library recorded the new file: a rescan sees nothing to do (no re-captioning).
    report = library.scan(library.roots()[0].id)
    assert (report.changed, report.new) == (0, 0)


def test_embed_falls_back_to_a_sidecar_for_videos(library: Library, tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    video = write_video(tmp_path / "v" / "clip.avi")
    before = video.read_bytes()
    item = indexed(library, tmp_path / "v")["clip.avi"]
    store_model_caption(library.db, item, "A short clip.", ["clip"], model_id="m")
    report = write_metadata(library.db, [item], "embed")
    assert report.written == {item: sidecar_path(video)}
    assert video.read_bytes() == before
    assert exiftool(sidecar_path(video), "-XMP:all")["Description"] == "A short clip."


def test_each_file_that_cannot_take_it_is_reported_and_the_rest_are_written(
    library: Library, tmp_path: Path
) -> None:
    folder = tmp_path / "p"
    good = write_photo(folder / "good.jpg", "astronaut")
    blocked = write_photo(folder / "blocked.jpg", "rocket")
    gone = write_photo(folder / "gone.jpg", "coffee")
    ids = indexed(library, folder)
    sidecar_path(blocked).mkdir()  # something that is not a file is in the sidecar's place
    for name in ids:
        store_model_caption(library.db, ids[name], f"caption of {name}", [], model_id="m")
    uncaptioned = write_photo(folder / "new.jpg", "camera")
    extra = indexed(library, folder)["new.jpg"]
    gone.unlink()  # after the last scan: the library still thinks it is there

    report = write_metadata(library.db, [*ids.values(), extra])
    assert report.written == {ids["good.jpg"]: sidecar_path(good)}
    assert report.errors[ids["blocked.jpg"]].startswith("blocked.jpg: could not write")
    assert report.errors[ids["gone.jpg"]] == "gone.jpg: the file is gone"
    assert report.uncaptioned == 1 and not sidecar_path(uncaptioned).exists()
    assert report.summary() == (
        "Wrote captions to 1 file; 1 without a caption yet; 2 could not be written"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_says_so(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    write_photo(folder / "a.jpg", "astronaut")
    item = indexed(library, folder)["a.jpg"]
    store_model_caption(library.db, item, "words", [], model_id="m")
    folder.chmod(0o555)
    try:
        report = write_metadata(library.db, [item])
    finally:
        folder.chmod(0o755)
    assert report.errors[item] == f"a.jpg: the folder {folder} is read-only"


def test_off_writes_nothing(library: Library, tmp_path: Path) -> None:
    photo = write_photo(tmp_path / "p" / "a.jpg", "astronaut")
    item = indexed(library, tmp_path / "p")["a.jpg"]
    store_model_caption(library.db, item, "words", [], model_id="m")
    Settings(library.db).set("metadata_write", "off")
    assert write_metadata(library.db, [item]).written == {}
    assert not sidecar_path(photo).exists()


def test_odd_names_are_written_or_refused_clearly(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "p"
    undecodable = write_photo(folder / os.fsdecode(b"caf\xe9 \xff.jpg"), "coffee")
    too_long = write_photo(folder / ("v" * 248 + ".jpg"), "rocket")  # no room for ".xmp"
    indexed(library, folder)
    with library.db.read() as conn:
        ids = {os.fsdecode(path): item for path, item in conn.exec_driver_sql(
            "SELECT path, id FROM media_items").all()}  # fmt: skip
    for item in ids.values():
        store_model_caption(library.db, item, "Espresso café", ["café"], model_id="m")
    report = write_metadata(library.db, list(ids.values()))

    odd = ids[str(undecodable.resolve())]
    assert report.written[odd] == sidecar_path(undecodable.resolve())
    assert exiftool(sidecar_path(undecodable), "-XMP:all")["Description"] == "Espresso café"
    reason = report.errors[ids[str(too_long.resolve())]]
    assert reason.startswith(f"{too_long.name}: could not write") and "too long" in reason


@pytest.mark.parametrize("mode", ["sidecar", "embed"])
def test_long_names_are_written_both_ways(library: Library, tmp_path: Path, mode: str) -> None:
    """A name of 232-251 bytes fits with ".xmp", but the staging file beside it used to
    add 24 bytes and pass the 255-byte limit: an 82-character Japanese name is 246."""
    name = ("京都の古い寺で友達と撮った写真、" * 6)[:82]
    assert len(name) == 82 and len(os.fsencode(name)) == 246
    photo = write_photo(tmp_path / "p" / f"{name}.jpg", "chelsea")
    decoded = pixels(photo)
    item = indexed(library, tmp_path / "p")[photo.name]
    Settings(library.db).set("metadata_write", mode)
    CaptionStore(library.db).add_user_caption(item, CAPTION, TAGS, language="fr")

    report = write_metadata(library.db, [item])

    assert not report.errors, report.errors
    written = photo if mode == "embed" else sidecar_path(photo)
    assert report.written == {item: written}
    read = exiftool(written, "-XMP:all")
    assert read["Description"] == CAPTION and read["Subject"] == TAGS
    assert np.array_equal(pixels(photo), decoded)
    assert sorted(photo.parent.iterdir()) == sorted({photo, written})  # no staging leftovers
