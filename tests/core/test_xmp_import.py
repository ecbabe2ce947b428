"""Captions other apps wrote are taken in when files are indexed: XMP made by exiftool
(sidecar or embedded), IPTC, EXIF. They become the user's captions: searchable, never
replaced by the model (no caption job), and never imported over the user's own words.
Our own AI captions found in files are not imported as anyone's words."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app.core.captions import USER, CaptionStore
from app.core.library.library import Library
from app.core.metadata.write_back import write_metadata
from app.core.metadata.xmp import sidecar_path
from app.core.search import search
from app.core.settings import Settings
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.media_factory import write_photo

pytestmark = pytest.mark.skipif(
    shutil.which("exiftool") is None, reason="Debian libimage-exiftool-perl"
)


def exiftool_write(path: Path, *assignments: str, out: Path | None = None) -> None:
    target = ["-o", str(out)] if out else ["-overwrite_original"]
    subprocess.run(["exiftool", "-q", *target, *assignments, str(path)], check=True, timeout=60)


def scan(library: Library, folder: Path) -> dict[str, int]:
    root = library.add_root(folder)
    library.scan(root.id)
    with library.db.read() as conn:
        return dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())


def queued(library: Library) -> set[int]:
    with library.db.read() as conn:
        return {
            r[0] for r in conn.exec_driver_sql("SELECT item_id FROM jobs WHERE state = 'queued'")
        }


def test_captions_from_other_apps_become_the_users(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "Photos"
    embedded = write_photo(folder / "embedded.jpg", "astronaut")
    exiftool_write(embedded, "-XMP-dc:Description=Eileen Collins, première femme pilote",
                   "-XMP-dc:Subject=NASA", "-XMP-dc:Subject=portrait")  # fmt: skip
    beside = write_photo(folder / "beside.png", "coffee")
    exiftool_write(beside, "-XMP-dc:Description=Café du matin", "-XMP-dc:Subject=café",
                   out=sidecar_path(beside))  # fmt: skip
    iptc = write_photo(folder / "iptc.jpg", "rocket")
    exiftool_write(iptc, "-IPTC:Caption-Abstract=Launch pad 39A", "-IPTC:Keywords=rocket")
    exif = write_photo(folder / "exif.jpg", "camera")
    exiftool_write(exif, "-EXIF:ImageDescription=Man with a tripod camera")
    filler = write_photo(folder / "camera says.jpg", "chelsea")
    exiftool_write(filler, "-EXIF:ImageDescription=OLYMPUS DIGITAL CAMERA         ")
    plain = write_photo(folder / "plain.jpg", "hubble_deep_field")

    ids = scan(library, folder)
    store = CaptionStore(library.db)
    expected = {
        "embedded.jpg": ("Eileen Collins, première femme pilote", ["NASA", "portrait"]),
        "beside.png": ("Café du matin", ["café"]),
        "iptc.jpg": ("Launch pad 39A", ["rocket"]),
        "exif.jpg": ("Man with a tripod camera", []),
    }
    for name, (text, tags) in expected.items():
        caption = store.current(ids[name])
        assert caption is not None, name
        assert (caption.text, caption.tags, caption.source) == (text, tags, USER)
    assert store.current(ids["camera says.jpg"]) is None  # a camera's filler is no caption
    assert store.current(ids[plain.name]) is None
    # Only the files without anyone's caption wait for the model.
    assert queued(library) == {ids["camera says.jpg"], ids["plain.jpg"]}
    assert [hit.item_id for hit in search(library.db, "première")] == [ids["embedded.jpg"]]


def test_an_edited_file_never_overrides_the_users_caption(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "Photos"
    photo = write_photo(folder / "a.jpg", "astronaut")
    item = scan(library, folder)["a.jpg"]
    CaptionStore(library.db).add_user_caption(item, "My own words", ["mine"])
    exiftool_write(photo, "-XMP-dc:Description=Another app's words")  # the file changes
    library.scan(library.roots()[0].id)
    current = CaptionStore(library.db).current(item)
    assert current is not None and current.text == "My own words"


def test_our_ai_captions_are_not_imported_our_users_are(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "Photos"
    ai = write_photo(folder / "ai.jpg", "astronaut")
    mine = write_photo(folder / "mine.jpg", "rocket")
    ids = scan(library, folder)
    store = CaptionStore(library.db)
    store_model_caption(library.db, ids["ai.jpg"], "An AI caption.", ["ai"], model_id="m")
    store.add_user_caption(ids["mine.jpg"], "Launch day, my words", ["me"])
    write_metadata(library.db, list(ids.values()))
    assert sidecar_path(ai).exists() and sidecar_path(mine).exists()

    # The same files in a library rebuilt from scratch.
    fresh_db = Database(tmp_path / "fresh.db")
    try:
        fresh = Library(fresh_db)
        fresh_ids = scan(fresh, folder)
        fresh_store = CaptionStore(fresh_db)
        assert fresh_store.current(fresh_ids["ai.jpg"]) is None  # the model will redo it
        restored = fresh_store.current(fresh_ids["mine.jpg"])
        assert restored is not None and restored.source == USER
        assert (restored.text, restored.tags) == ("Launch day, my words", ["me"])
    finally:
        fresh_db.close()


def test_import_can_be_switched_off(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "Photos"
    photo = write_photo(folder / "a.jpg", "astronaut")
    exiftool_write(photo, "-XMP-dc:Description=Words from elsewhere")
    Settings(library.db).set("metadata_import", False)
    item = scan(library, folder)["a.jpg"]
    assert CaptionStore(library.db).current(item) is None
