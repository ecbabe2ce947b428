"""The full-text index never drifts from the tables, whatever writes them."""

from __future__ import annotations

import json
import random

import pytest

from app.core.captions import CaptionStore
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.core.test_storage import add_item


def expected_index(db: Database) -> dict[int, tuple[str, str, str, str, str]]:
    """The index recomputed from the tables by the rules, independently of the triggers.

    An item (and its moments) is indexed once probed: while its state is neither
    'new' (not probed yet) nor 'missing'."""
    with db.read() as conn:
        items = conn.exec_driver_sql(
            "SELECT id, name, folder FROM media_items WHERE state NOT IN ('new', 'missing')"
        ).all()
        captions = conn.exec_driver_sql(
            "SELECT id, item_id, keyframe_id, text, tags, source FROM captions"
        ).all()
        keyframe_item = dict(conn.exec_driver_sql("SELECT id, item_id FROM keyframes").all())
    present = {i for i, _, _ in items}

    def current(item_id: int, keyframe_id: int | None):  # type: ignore[no-untyped-def]
        versions = [c for c in captions if c[1] == item_id and c[2] == keyframe_id]
        users = [c for c in versions if c[5] == "user"]
        pool = users or versions
        return max(pool, key=lambda c: c[0]) if pool else None

    rows: dict[int, tuple[str, str, str, str, str]] = {}
    for item_id, name, folder in items:
        c = current(item_id, None)
        tags = " ".join(json.loads(c[4])) if c else ""
        rows[item_id] = (c[3] if c else "", tags, name, folder, c[5] if c else "")
    for keyframe_id, item_id in keyframe_item.items():
        c = current(item_id, keyframe_id)
        if c and item_id in present:
            rows[-keyframe_id] = (c[3], " ".join(json.loads(c[4])), "", "", c[5])
    return rows


def actual_index(db: Database) -> dict[int, tuple[str, str, str, str, str]]:
    with db.read() as conn:
        return {
            r[0]: tuple(r[1:])
            for r in conn.exec_driver_sql(
                "SELECT rowid, caption, tags, name, folder, source FROM search_index"
            )
        }


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_index_matches_tables_after_random_edits_moves_and_deletes(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    store = CaptionStore(db)
    items = [add_item(db, f"img{i}.jpg") for i in range(12)]
    keyframes: list[tuple[int, int]] = []
    words = ["beach", "dog", "sunset", "café", "mountain", "snow", "city", "night"]

    def sentence() -> str:
        return " ".join(rng.choices(words, k=4))

    for _step in range(150):
        op = rng.choice(
            ["model", "user", "moment", "move", "missing", "back", "delete", "kf", "changed"]
        )
        live = [i for i in items]
        if not live:
            break
        item = rng.choice(live)
        if op == "model":
            store_model_caption(db, item, sentence(), rng.sample(words, 2))
        elif op == "user":
            store.add_user_caption(item, sentence(), rng.sample(words, 1))
        elif op == "kf":
            with db.write() as conn:
                kf = conn.exec_driver_sql(
                    "INSERT INTO keyframes (item_id, timestamp) VALUES (?, ?)",
                    (item, rng.uniform(0, 60)),
                ).lastrowid
            keyframes.append((kf, item))
        elif op == "moment" and keyframes:
            kf, owner = rng.choice(keyframes)
            by_user, text = rng.random() < 0.3, sentence()
            if by_user:
                store.add_user_caption(owner, text, ["moment"], keyframe_id=kf)
            else:  # the worker captions the whole video with its moments
                store_model_caption(db, owner, "a video", ["moment"], moments={kf: text})
        elif op == "move":
            with db.write() as conn:
                conn.exec_driver_sql(
                    "UPDATE media_items SET path = ?, name = ?, folder = ? WHERE id = ?",
                    (
                        f"/lib/moved/{item}-{_step}.jpg".encode(),
                        f"moved{_step}.jpg",
                        "lib/moved",
                        item,
                    ),
                )
        elif op == "missing":
            with db.write() as conn:
                conn.exec_driver_sql("UPDATE media_items SET state='missing' WHERE id=?", (item,))
        elif op == "changed":  # the file changed on disk: to be probed again
            with db.write() as conn:
                conn.exec_driver_sql("UPDATE media_items SET state='new' WHERE id=?", (item,))
        elif op == "back":
            with db.write() as conn:
                conn.exec_driver_sql("UPDATE media_items SET state='ok' WHERE id=?", (item,))
        elif op == "delete" and rng.random() < 0.2:
            with db.write() as conn:
                conn.exec_driver_sql("DELETE FROM media_items WHERE id = ?", (item,))
            items.remove(item)
            keyframes = [(k, o) for k, o in keyframes if o != item]
        assert actual_index(db) == expected_index(db), f"drift after step {_step}: {op}"
    assert actual_index(db)  # the run did index something


def test_unprobed_items_enter_the_index_when_probed(db: Database) -> None:
    """Discovery's inserts (state 'new') stay out of the index; the probe's state
    change brings the item in, with its caption and moments; a change takes it out."""
    item = add_item(db, "fresh.jpg")
    with db.write() as conn:
        conn.exec_driver_sql("UPDATE media_items SET state = 'new' WHERE id = ?", (item,))
        pending = conn.exec_driver_sql(
            """INSERT INTO media_items (root_id, path, name, folder, kind, size,
                   mtime_ns, added_at, state)
               VALUES (1, ?, 'unprobed.jpg', 'lib', 'photo', 1, 1, 0, 'new')""",
            (b"/lib/unprobed.jpg",),
        ).lastrowid
        kf = conn.exec_driver_sql(
            "INSERT INTO keyframes (item_id, timestamp) VALUES (?, 1.0)", (item,)
        ).lastrowid
    store_model_caption(db, item, "a red kite", ["kite"], moments={kf: "the kite lands"})
    assert actual_index(db) == expected_index(db) == {}
    with db.write() as conn:
        conn.exec_driver_sql("UPDATE media_items SET state = 'ok' WHERE id = ?", (item,))
    assert set(actual_index(db)) == {item, -kf}
    assert actual_index(db) == expected_index(db)
    with db.write() as conn:  # changed on disk: out until probed again
        conn.exec_driver_sql("UPDATE media_items SET state = 'new' WHERE id = ?", (item,))
        conn.exec_driver_sql("UPDATE media_items SET state = 'error' WHERE id = ?", (pending,))
    assert set(actual_index(db)) == {pending}
    assert actual_index(db) == expected_index(db)
