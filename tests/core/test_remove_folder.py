"""Removing a library folder loses nothing the user wrote: undo puts every item back
exactly as it was, adding the folder again brings the captions back, and the items the
user had removed from the library stay removed either way."""

from __future__ import annotations

from pathlib import Path

from app.core.captions import CaptionStore
from app.core.library.library import Library
from app.core.queue_status import failed_items
from app.core.storage.db import Database
from tests.core.scan_support import jobs_by_item
from tests.media_factory import write_photo


def states(db: Database) -> dict[str, str]:
    with db.read() as conn:
        rows = conn.exec_driver_sql("SELECT name, state FROM media_items").all()
    return {name: state for name, state in rows}


def ids(db: Database) -> dict[str, int]:
    with db.read() as conn:
        rows = conn.exec_driver_sql("SELECT name, id FROM media_items").all()
    return {name: item_id for name, item_id in rows}


def folder(library: Library, photo_dir: Path) -> int:
    write_photo(photo_dir / "a.jpg", size=(40, 40))
    write_photo(photo_dir / "b.jpg", "coffee", size=(40, 30))
    write_photo(photo_dir / "c.jpg", "rocket", size=(30, 30))
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    root = library.add_root(photo_dir)
    library.scan(root.id)
    return root.id


def test_undo_of_a_folder_removal_restores_states_captions_and_jobs(
    library: Library, db: Database, photo_dir: Path
) -> None:
    root_id = folder(library, photo_dir)
    item = ids(db)
    CaptionStore(db).add_user_caption(item["a.jpg"], "my words", ("mine",))
    library.remove_items([item["c.jpg"]])  # the user's own removal, before the folder's
    before, queued = states(db), jobs_by_item(db)
    assert library.root_summary(root_id) == (str(photo_dir.resolve()), 3)

    removal = library.remove_root(root_id)

    assert removal.items == 3
    assert library.roots() == []
    assert library.root_summary(root_id) is None  # a second "Remove" has nothing to ask
    assert library.status().items == 0
    assert jobs_by_item(db) == {}

    assert sorted(library.restore_root(removal)) == sorted(
        item[n] for n in ("a.jpg", "b.jpg", "broken.jpg")
    )

    assert states(db) == before  # c.jpg still removed, broken.jpg still unreadable
    assert jobs_by_item(db) == queued
    assert [r.id for r in library.roots()] == [root_id]
    current = CaptionStore(db).current(item["a.jpg"])
    assert current is not None and (current.text, list(current.tags)) == ("my words", ["mine"])


def test_adding_a_removed_folder_again_brings_captions_back_and_keeps_removed_items_out(
    library: Library, db: Database, photo_dir: Path
) -> None:
    root_id = folder(library, photo_dir)
    item = ids(db)
    CaptionStore(db).add_user_caption(item["b.jpg"], "an espresso")
    library.remove_items([item["c.jpg"]])
    before = states(db)

    library.remove_root(root_id)
    library.scan(library.add_root(photo_dir).id)

    assert states(db) == before
    assert ids(db) == item
    current = CaptionStore(db).current(item["b.jpg"])
    assert current is not None and current.text == "an espresso"


def test_failure_list_leaves_out_a_removed_folder(
    library: Library, db: Database, photo_dir: Path
) -> None:
    root_id = folder(library, photo_dir)
    assert [f.name for f in failed_items(db)] == ["broken.jpg"]

    removal = library.remove_root(root_id)
    assert failed_items(db) == []

    library.restore_root(removal)
    assert [f.name for f in failed_items(db)] == ["broken.jpg"]
