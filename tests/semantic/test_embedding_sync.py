"""Caption vectors stay in step with the captions: edits, undo, restores, removals,
moves and a model change; nothing missing and nothing stale afterwards.
ConceptEmbedderDouble (a named test double) stands in for the model; the real model
in the real worker: tests/semantic/test_embedding_worker.py."""

from __future__ import annotations

from app.core.caption_undo import withdraw_caption
from app.core.captions import CaptionStore
from app.core.semantic.hybrid import Finder, SearchMode
from app.core.semantic.sync import EmbeddingSync
from app.core.storage import embedding_rows as rows
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.core.test_storage import add_item
from tests.semantic.embedder_double import ConceptEmbedderDouble
from tests.semantic.library_support import assert_in_step


def finder(db: Database, embedder: ConceptEmbedderDouble) -> Finder:
    return Finder(db, lambda _model, text: embedder.embed_query(text))


def semantic_names(db: Database, embedder: ConceptEmbedderDouble, text: str) -> list[str]:
    found = finder(db, embedder).find(text, mode=SearchMode.SEMANTIC)
    return [hit.name for hit in found.hits]


def test_backfill_embeds_every_caption_once_in_batches(db: Database) -> None:
    for n in range(70):
        store_model_caption(db, add_item(db, f"{n}.jpg"), f"a dog number {n}", ["dog"])
    embedder = ConceptEmbedderDouble()
    sync = EmbeddingSync(db, embedder, "double")
    first = sync.start()
    assert (first.pending, first.ready) == (70, False)
    progress = sync.run_until_done()
    assert (progress.pending, progress.ready, progress.embedded) == (0, True, 70)
    assert sum(embedder.calls) == 70 and max(embedder.calls) <= 32
    assert_in_step(db, embedder)
    # A restart queues nothing and embeds nothing.
    again = ConceptEmbedderDouble()
    assert EmbeddingSync(db, again, "double").run_until_done().embedded == 0
    assert again.calls == []


def test_edits_undo_restore_and_removal_stay_in_step(db: Database) -> None:
    embedder = ConceptEmbedderDouble()
    store = CaptionStore(db)
    photo = add_item(db, "photo.jpg")
    other = add_item(db, "other.jpg")
    store_model_caption(db, photo, "a cat on a sofa", [])
    store_model_caption(db, other, "snow on a mountain", [])
    sync = EmbeddingSync(db, embedder, "double")
    sync.run_until_done()
    assert semantic_names(db, embedder, "kitten")[0] == "photo.jpg"

    edit = store.add_user_caption(photo, "a puppy on the beach", ["dog"])  # the user's edit
    with db.read() as conn:
        assert rows.pending_count(conn) == 1
    sync.run_until_done()
    assert_in_step(db, embedder)
    assert semantic_names(db, embedder, "hond")[0] == "photo.jpg"

    assert withdraw_caption(db, edit.id)  # undo: the model caption is current again
    sync.run_until_done()
    assert_in_step(db, embedder)
    assert semantic_names(db, embedder, "kitten")[0] == "photo.jpg"

    history = store.history(photo)
    store.restore(history[-1].id)  # restore the oldest version
    sync.run_until_done()
    assert_in_step(db, embedder)

    with db.write() as conn:  # the item leaves the library: its vectors go at once
        conn.exec_driver_sql("DELETE FROM media_items WHERE id = ?", (photo,))
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM embeddings WHERE row_key = ?", (photo,)
            ).scalar()
            == 0
        )
    assert "photo.jpg" not in semantic_names(db, embedder, "kitten")
    sync.run_until_done()
    assert_in_step(db, embedder)


def test_a_moved_or_missing_file_keeps_its_vector(db: Database) -> None:
    embedder = ConceptEmbedderDouble()
    photo = add_item(db, "photo.jpg")
    store_model_caption(db, photo, "a dog on the beach", [])
    EmbeddingSync(db, embedder, "double").run_until_done()
    with db.write() as conn:  # renamed/moved: same item, same caption
        conn.exec_driver_sql(
            "UPDATE media_items SET name = 'moved.jpg', folder = 'elsewhere' WHERE id = ?", (photo,)
        )
    assert semantic_names(db, embedder, "hond") == ["moved.jpg"]
    with db.write() as conn:  # the drive is unplugged: not found, vector kept
        conn.exec_driver_sql("UPDATE media_items SET state = 'missing' WHERE id = ?", (photo,))
    assert semantic_names(db, embedder, "hond") == []
    with db.write() as conn:  # back again: found again, nothing to re-embed
        conn.exec_driver_sql("UPDATE media_items SET state = 'ok' WHERE id = ?", (photo,))
    assert semantic_names(db, embedder, "hond") == ["moved.jpg"]
    assert_in_step(db, embedder)


def test_a_new_model_fills_while_the_old_one_answers(db: Database) -> None:
    old, new = ConceptEmbedderDouble("old-model"), ConceptEmbedderDouble("new-model")
    for n in range(40):
        store_model_caption(db, add_item(db, f"{n}.jpg"), f"a dog number {n}", [])
    EmbeddingSync(db, old, "Old").run_until_done()
    asked: list[str] = []

    def embed(model: rows.StoredModel, text: str):  # type: ignore[no-untyped-def]
        asked.append(model.model_key)
        return (old if model.model_key == "old-model" else new).embed_query(text)

    search = Finder(db, embed)
    sync = EmbeddingSync(db, new, "New")
    sync.start()
    sync.step(batch=10)  # a quarter of the library under the new model
    assert len(search.find("puppy", mode=SearchMode.SEMANTIC).hits) == 40
    assert asked[-1] == "old-model"  # the complete model still answers
    sync.run_until_done()
    assert len(search.find("puppy", mode=SearchMode.SEMANTIC).hits) == 40
    assert asked[-1] == "new-model"
    with db.read() as conn:
        assert [m.model_key for m in rows.all_models(conn)] == ["new-model"]
    assert_in_step(db, new)


def test_a_row_queued_again_while_embedding_stays_queued(db: Database) -> None:
    """A caption edited between the read and the write of a step is not lost."""
    photo = add_item(db, "photo.jpg")
    store_model_caption(db, photo, "a cat", [])
    embedder = ConceptEmbedderDouble()
    sync = EmbeddingSync(db, embedder, "double")
    sync.start()
    real = embedder.embed_documents

    def edit_meanwhile(texts: list[str]):  # type: ignore[no-untyped-def]
        CaptionStore(db).add_user_caption(photo, "a dog", [])
        return real(texts)

    embedder.embed_documents = edit_meanwhile  # type: ignore[method-assign]
    assert sync.step().pending == 1  # the edit is still queued
    embedder.embed_documents = real  # type: ignore[method-assign]
    sync.run_until_done()
    assert_in_step(db, embedder)
