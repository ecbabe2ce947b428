"""Hybrid search: fusion, filters, video moments, "why it matched", find similar, and
hostile queries — with ConceptEmbedderDouble (a named test double) so ranks can be
asserted. The real embedding path: tests/semantic/test_embedding_worker.py."""

from __future__ import annotations

import pytest

from app.core.captions import CaptionStore
from app.core.semantic.hybrid import Finder, Fusion, QueryEmbeddingError, SearchMode
from app.core.semantic.sync import EmbeddingSync
from app.core.storage import embedding_rows as rows
from app.core.storage.db import Database
from app.core.storage.embedding_rows import StoredModel
from tests.caption_support import store_model_caption
from tests.core.test_storage import add_item
from tests.semantic.embedder_double import ConceptEmbedderDouble

PHOTOS = [
    # name, kind, taken_at, caption, tags, by the user?
    ("puppy.jpg", "photo", "2023-07-01T10:00:00", "a puppy running on the sand", ["animal"], False),
    ("dogbeach.jpg", "photo", "2023-08-01T10:00:00", "a dog on the beach at dusk", [], False),
    ("city.jpg", "photo", "2024-05-10T20:00:00", "city lights at night with red cars", [], False),
    ("snow.jpg", "photo", "2024-12-24T09:00:00", "a snowy mountain cabin", ["winter"], True),
    ("cat.jpg", "photo", "2025-01-02T09:00:00", "a cat asleep on a sofa", ["pet"], False),
    ("clip.mp4", "video", "2024-06-01T12:00:00", "a family picnic in the park", ["family"], False),
]


@pytest.fixture
def embedder() -> ConceptEmbedderDouble:
    return ConceptEmbedderDouble()


@pytest.fixture
def library(db: Database, embedder: ConceptEmbedderDouble) -> dict[str, int]:
    store = CaptionStore(db)
    ids = {}
    for name, kind, taken, text, tags, by_user in PHOTOS:
        item = ids[name] = add_item(db, name)
        with db.write() as conn:
            conn.exec_driver_sql(
                "UPDATE media_items SET kind = ?, taken_at = ? WHERE id = ?", (kind, taken, item)
            )
        if by_user:
            store.add_user_caption(item, text, tags)
        else:
            store_model_caption(db, item, text, tags)
    with db.write() as conn:
        kf = conn.exec_driver_sql(
            "INSERT INTO keyframes (item_id, timestamp) VALUES (?, 42.5)", (ids["clip.mp4"],)
        ).lastrowid
    store_model_caption(
        db, ids["clip.mp4"], "a family picnic in the park", ["family"], moments={kf: "a kite"}
    )
    EmbeddingSync(db, embedder, "Concept double").run_until_done()
    return ids


def finder(db: Database, embedder: ConceptEmbedderDouble, **kw: object) -> Finder:
    def embed(model: StoredModel, text: str):  # type: ignore[no-untyped-def]
        assert model.model_key == embedder.model_id  # the query meets vectors of its model
        return embedder.embed_query(text)

    return Finder(db, embed, **kw)  # type: ignore[arg-type]


def names(found) -> list[str]:  # type: ignore[no-untyped-def]
    return [hit.name for hit in found.hits]


def test_meaning_finds_what_the_words_miss(db, library, embedder) -> None:
    find = finder(db, embedder)
    assert names(find.find("puppy sand", mode=SearchMode.KEYWORD)) == ["puppy.jpg"]
    assert names(find.find("hond strand", mode=SearchMode.KEYWORD)) == []  # Dutch
    semantic = find.find("hond strand", mode=SearchMode.SEMANTIC)
    assert semantic.mode == SearchMode.SEMANTIC
    assert set(names(semantic)[:2]) == {"puppy.jpg", "dogbeach.jpg"}
    assert all(hit.match == "semantic" for hit in semantic.hits)
    # "Why it matched": the caption whose meaning matched, not highlighted words.
    assert semantic.hits[0].snippet in {"a puppy running on the sand", "a dog on the beach at dusk"}


def test_hybrid_puts_items_found_both_ways_first_and_says_why(db, library, embedder) -> None:
    found = finder(db, embedder).find("dog beach")
    assert found.mode == SearchMode.HYBRID and found.notice == ""
    first, second = found.hits[:2]
    assert (first.name, first.match) == ("dogbeach.jpg", "both")
    assert "[dog]" in first.snippet and "[beach]" in first.snippet
    assert (second.name, second.match) == ("puppy.jpg", "semantic")
    assert first.score > second.score > 0 and first.ranked_by == "fused"


def test_fusion_weights_decide_between_the_lists(db, library, embedder) -> None:
    # "cars at night": keyword finds city.jpg only; meaning ranks it first too. With
    # the keyword weight at zero the order is meaning's alone.
    only_meaning = finder(db, embedder, fusion=Fusion(keyword=0.0, phrase=0.0))
    semantic = finder(db, embedder).find("sofa kitten", mode=SearchMode.SEMANTIC)
    assert names(only_meaning.find("sofa kitten"))[:3] == names(semantic)[:3]


def test_an_exact_phrase_is_boosted(db, library, embedder) -> None:
    plain = finder(db, embedder, fusion=Fusion(phrase=0.0)).find("snowy mountain")
    boosted = finder(db, embedder, fusion=Fusion(phrase=5.0)).find("snowy mountain")
    assert boosted.hits[0].name == "snow.jpg"
    assert boosted.hits[0].score > plain.hits[0].score


def test_filters_apply_to_meaning_too(db, library, embedder) -> None:
    find = finder(db, embedder)
    assert names(find.find("hond strand type:video", mode=SearchMode.SEMANTIC)) == ["clip.mp4"]
    assert names(find.find("mountain by:me", mode=SearchMode.SEMANTIC)) == ["snow.jpg"]
    assert names(find.find("puppy tag:animal", mode=SearchMode.SEMANTIC)) == ["puppy.jpg"]
    assert "dogbeach.jpg" not in names(find.find("dog -dusk", mode=SearchMode.SEMANTIC))
    assert names(find.find("dog after:2024", mode=SearchMode.SEMANTIC))[0] != "puppy.jpg"
    for hit in find.find("dog before:2024").hits:
        assert hit.taken_at is not None and hit.taken_at < "2024"


def test_a_moment_that_matches_collapses_to_its_video_with_the_time(db, library, embedder) -> None:
    found = finder(db, embedder).find("vlieger", mode=SearchMode.SEMANTIC)  # Dutch: kite
    hit = found.hits[0]
    assert (hit.name, hit.timestamp, hit.snippet) == ("clip.mp4", 42.5, "a kite")
    assert names(found).count("clip.mp4") == 1


def test_find_similar(db, library, embedder) -> None:
    found = finder(db, embedder).similar(library["puppy.jpg"], limit=3)
    assert names(found)[0] == "dogbeach.jpg"
    assert "puppy.jpg" not in names(found)
    assert all(hit.match == "semantic" for hit in found.hits)


def test_without_a_ready_model_search_is_keyword_only_and_says_so(db, embedder) -> None:
    item = add_item(db, "x.jpg")
    store_model_caption(db, item, "a dog on the beach", [])
    found = finder(db, embedder).find("dog beach")
    assert found.mode == SearchMode.KEYWORD and names(found) == ["x.jpg"]
    assert "embedding model" in found.notice
    sync = EmbeddingSync(db, embedder, "Concept double")
    sync.start()  # filling, not done
    assert "getting ready" in finder(db, embedder).find("dog beach").notice


def test_a_failing_query_embedder_falls_back_to_keywords(db, library) -> None:
    def broken(model: StoredModel, text: str):  # type: ignore[no-untyped-def]
        raise QueryEmbeddingError("the embedding process stopped")

    found = Finder(db, broken).find("dog beach")
    assert found.mode == SearchMode.KEYWORD and "embedding process stopped" in found.notice
    assert names(found) == ["dogbeach.jpg"]


HOSTILE = [
    "",
    " ",
    "OR AND NOT",
    '"',
    '"unbalanced quote',
    "x" * 10_000,
    "🐶🏖️",
    "'; DROP TABLE captions; --",
    "tag: folder: type:",
    "-",
    "NEAR(dog beach)",
    "dog\x00beach",
    "*",
    "((((",
]


@pytest.mark.parametrize("mode", list(SearchMode))
def test_hostile_queries_never_raise(db, library, embedder, mode: SearchMode) -> None:
    find = finder(db, embedder)
    for text in HOSTILE:
        for as_you_type in (False, True):
            found = find.find(text, mode=mode, as_you_type=as_you_type)
            assert isinstance(found.hits, list)


def test_narrow_filters_still_find_their_items(db, embedder, monkeypatch) -> None:
    """Filters that reject every near candidate: the rows passing them are compared
    one by one (rounds kept small here so 200 photos are "many")."""
    import app.core.semantic.hybrid as hybrid

    monkeypatch.setattr(hybrid, "FIRST_CANDIDATES", 4)
    monkeypatch.setattr(hybrid, "MOST_CANDIDATES", 32)
    for n in range(200):
        store_model_caption(db, add_item(db, f"{n}.jpg"), f"a dog on the beach, number {n}", [])
    video = add_item(db, "clip.mp4")
    with db.write() as conn:
        conn.exec_driver_sql("UPDATE media_items SET kind = 'video' WHERE id = ?", (video,))
    store_model_caption(db, video, "a cat in a city street", [])
    EmbeddingSync(db, embedder, "Concept double").run_until_done()
    found = finder(db, embedder).find("puppy type:video", mode=SearchMode.SEMANTIC)
    assert names(found) == ["clip.mp4"]


def test_meaning_limit_caps_the_hits_by_meaning_not_the_keyword_hits(db, library, embedder) -> None:
    """The window lists every keyword hit but only the nearest by meaning."""
    find = finder(db, embedder)
    everything = find.find("dog", limit=50)
    assert len(everything.hits) == len(PHOTOS)  # every caption is somewhat similar
    capped = find.find("dog", limit=50, meaning_limit=1)
    assert [h.name for h in capped.hits if h.match != "semantic"] == ["dogbeach.jpg"]
    assert len([h for h in capped.hits if h.match == "semantic"]) <= 1
    assert find.find("dog", limit=50, meaning_limit=0).hits[0].match == "keyword"


def test_meaning_gap_keeps_only_what_is_near_the_nearest(db, library, embedder) -> None:
    find = finder(db, embedder)
    assert len(find.find("kitten", mode=SearchMode.SEMANTIC).hits) == len(PHOTOS)
    assert names(find.find("kitten", meaning_gap=0.2)) == ["cat.jpg"]  # not the rest
    near = find.similar(library["puppy.jpg"], meaning_gap=0.2)
    assert names(near) == ["dogbeach.jpg"]


def test_warm_up_loads_the_index_before_the_first_search(db, library, embedder) -> None:
    find = finder(db, embedder)
    find.warm_up()
    with db.read() as conn:
        model = rows.ready_model(conn)
        assert model is not None
        assert find._indexes.current(conn, model).size == rows.vector_count(conn, model.id)
