"""Search semantics: syntax, filters, ranking, moments, and hostile input."""

from __future__ import annotations

import pytest

from app.core.captions import CaptionStore
from app.core.search import search
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.core.test_storage import add_item


@pytest.fixture
def filled(db: Database) -> Database:
    store = CaptionStore(db)
    rows = [
        (
            "beach.jpg",
            "photo",
            "2023-07-01T10:00:00",
            "a dog running on the beach at sunset",
            ["dog", "beach"],
            "model",
        ),
        (
            "city.jpg",
            "photo",
            "2024-05-10T20:00:00",
            "city lights at night with red cars",
            ["city", "night"],
            "model",
        ),
        (
            "snow.jpg",
            "photo",
            "2024-12-24T09:00:00",
            "a snowy mountain cabin, café sign",
            ["snow", "sunset"],
            "user",
        ),
        (
            "clip.mp4",
            "video",
            "2024-06-01T12:00:00",
            "a family picnic in the park",
            ["family"],
            "model",
        ),
    ]
    for name, kind, taken, text, tags, source in rows:
        item = add_item(db, name)
        with db.write() as conn:
            conn.exec_driver_sql(
                "UPDATE media_items SET kind = ?, taken_at = ? WHERE id = ?", (kind, taken, item)
            )
        if source == "user":
            store.add_user_caption(item, text, tags)
        else:
            store_model_caption(db, item, text, tags)
    video = next(h.item_id for h in search(db, "picnic"))
    with db.write() as conn:
        kf = conn.exec_driver_sql(
            "INSERT INTO keyframes (item_id, timestamp) VALUES (?, 42.5)", (video,)
        ).lastrowid
    # The worker captions a video's moments with the whole video, whose caption stays.
    store_model_caption(
        db,
        video,
        "a family picnic in the park",
        ["family"],
        moments={kf: "a kite flying over the lake"},
    )
    return db


def names(db: Database, query: str, **kw: object) -> list[str]:
    return [h.name for h in search(db, query, **kw)]  # type: ignore[arg-type]


def test_words_stems_and_diacritics(filled: Database) -> None:
    assert names(filled, "dog beach") == ["beach.jpg"]
    assert names(filled, "dogs") == ["beach.jpg"]  # porter stemming
    assert names(filled, "cafe") == ["snow.jpg"]  # diacritics folded
    assert names(filled, "dog city") == []


def test_prefix_and_as_you_type(filled: Database) -> None:
    assert names(filled, "mount*") == ["snow.jpg"]
    assert names(filled, "mount") == []
    assert names(filled, "mount", as_you_type=True) == ["snow.jpg"]
    assert names(filled, "mount ", as_you_type=True) == []


def test_phrase_or_not(filled: Database) -> None:
    assert names(filled, '"red cars"') == ["city.jpg"]
    assert names(filled, '"cars red"') == []
    assert names(filled, '"red cars') == ["city.jpg"]  # unbalanced quote forgiven
    assert sorted(names(filled, "snowy OR picnic")) == ["clip.mp4", "snow.jpg"]
    assert names(filled, "sunset -dog") == ["snow.jpg"]
    assert names(filled, "sunset NOT dog") == ["snow.jpg"]
    assert sorted(names(filled, "-dog")) == ["city.jpg", "clip.mp4", "snow.jpg"]


def test_filters(filled: Database) -> None:
    assert names(filled, "tag:sunset") == ["snow.jpg"]  # only the tag, not the caption word
    assert names(filled, "type:video") == ["clip.mp4"]
    assert names(filled, "by:me") == ["snow.jpg"]
    assert sorted(names(filled, "by:ai")) == ["beach.jpg", "city.jpg", "clip.mp4"]
    assert names(filled, "after:2024-06 before:2024-07") == ["clip.mp4"]
    assert names(filled, "after:2024") == ["snow.jpg", "clip.mp4", "city.jpg"]  # newest first
    assert names(filled, "sunset after:2024") == ["snow.jpg"]
    assert names(filled, "folder:lib beach") == ["beach.jpg"]


def test_video_moment_hit_carries_timestamp(filled: Database) -> None:
    (hit,) = search(filled, "kite")
    assert hit.name == "clip.mp4" and hit.timestamp == 42.5 and hit.keyframe_id is not None
    (whole,) = search(filled, "picnic")
    assert whole.timestamp is None


def test_snippet_highlights_and_ranking(filled: Database) -> None:
    (hit,) = search(filled, "lights", highlight=("<b>", "</b>"))
    assert "<b>lights</b>" in hit.snippet
    # A caption match outranks a file-name match for the same word.
    other = add_item(filled, "night.jpg")
    store_model_caption(filled, other, "a quiet lake")
    assert names(filled, "night")[0] == "city.jpg"


def test_user_edit_is_searchable_and_replaces_old_words(filled: Database) -> None:
    (hit,) = search(filled, "picnic")
    CaptionStore(filled).add_user_caption(hit.item_id, "grandma's birthday barbecue")
    assert names(filled, "barbecue") == ["clip.mp4"]
    assert names(filled, "picnic") == []


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '""',
        "(",
        ")",
        "*",
        "-",
        "OR",
        "AND NOT",
        "NOT",
        "a OR",
        "'; DROP TABLE captions; --",
        "🙂🎉",
        "tag:",
        "type:",
        "after:yesterday",
        "name:*",
        "x" * 5000,
        "NEAR(a b)",
        "a:b:c",
        "\x00",
        'col:"unterminated',
        "^dog",
        "dog +beach",
        "{dog}",
        "c++",
    ],
)
def test_any_text_is_a_valid_query(filled: Database, query: str) -> None:
    search(filled, query)
    search(filled, query, as_you_type=True)
    assert names(filled, "dog") == ["beach.jpg"]  # and the database is intact


def test_recent_lists_present_items_newest_first(filled: Database) -> None:
    from app.core.search import recent

    assert [h.name for h in recent(filled)] == ["snow.jpg", "clip.mp4", "city.jpg", "beach.jpg"]
    with filled.write() as conn:
        conn.exec_driver_sql("UPDATE media_items SET state = 'missing' WHERE name = 'city.jpg'")
    assert [h.name for h in recent(filled, limit=2)] == ["snow.jpg", "clip.mp4"]


# -- ranking policy: bm25 for narrow queries, newest first for broad ones ---------------
@pytest.fixture
def seaside(db: Database) -> Database:
    """Items added in this order (so index rowids grow down the list)."""
    rows = [  # name, kind, taken_at, caption, tags
        ("sea-view.jpg", "photo", "2020-01-01T00:00:00", "a quiet lake", []),
        ("dawn.jpg", "photo", "2024-01-01T00:00:00", "the sea at dawn", []),
        ("waves.jpg", "photo", "2019-01-01T00:00:00", "waves on rocks", ["sea"]),
        ("sea-front.jpg", "photo", "2021-01-01T00:00:00", "a mountain hut", []),
        ("storm.jpg", "photo", "2018-01-01T00:00:00", "sea sea sea", []),
        ("zoo.mp4", "video", "2022-01-01T00:00:00", "a day at the sea zoo", []),
    ]
    for name, kind, taken, text, tags in rows:
        item = add_item(db, name)
        with db.write() as conn:
            conn.exec_driver_sql(
                "UPDATE media_items SET kind = ?, taken_at = ? WHERE id = ?", (kind, taken, item)
            )
        store_model_caption(db, item, text, tags)
    with db.write() as conn:
        kf = conn.exec_driver_sql(
            "INSERT INTO keyframes (item_id, timestamp) VALUES (?, 3.0)", (item,)
        ).lastrowid
    # The worker captions a video's moments with the whole video, whose caption stays.
    store_model_caption(db, item, "a day at the sea zoo", moments={kf: "a sea lion dives"})
    return db


def test_narrow_query_is_ranked_by_bm25(seaside: Database) -> None:
    hits = search(seaside, "sea")
    assert {h.ranked_by for h in hits} == {"relevance"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].name == "storm.jpg"  # three times in a short caption
    assert len(hits) == 6  # zoo.mp4 once, although it matches in its moment too
    assert hits[-2:] == sorted(hits[-2:], key=lambda h: h.name)  # name-only matches last


def test_broad_query_lists_newest_first_caption_matches_before_names(
    seaside: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.core.search as search_module

    monkeypatch.setattr(search_module, "BROAD_QUERY", 2)
    hits = search(seaside, "sea")
    # Captions and tags, newest added first, then the file names.
    assert [h.name for h in hits] == [
        "zoo.mp4",
        "storm.jpg",
        "waves.jpg",
        "dawn.jpg",
        "sea-front.jpg",
        "sea-view.jpg",
    ]
    assert hits[0].timestamp is None  # its own row, before its moment's
    assert {(h.score, h.ranked_by) for h in hits} == {(0.0, "recency")}
    assert [h.name for h in search(seaside, "sea", limit=3)] == [
        "zoo.mp4",
        "storm.jpg",
        "waves.jpg",
    ]
    assert [h.name for h in search(seaside, "sea", limit=5)][-1] == "sea-front.jpg"
    # A moment hit comes after the items' own rows.
    monkeypatch.setattr(search_module, "BROAD_QUERY", 1)
    (lion,) = search(seaside, "lion OR dawn", limit=5)[1:]
    assert (lion.name, lion.timestamp) == ("zoo.mp4", 3.0)


def test_broad_query_filters(seaside: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.core.search as search_module

    monkeypatch.setattr(search_module, "BROAD_QUERY", 2)
    assert names(seaside, "sea type:video") == ["zoo.mp4"]
    assert names(seaside, "sea after:2021") == ["zoo.mp4", "dawn.jpg", "sea-front.jpg"]
    assert names(seaside, "sea before:2020 by:ai") == ["storm.jpg", "waves.jpg"]
    assert names(seaside, "sea -dawn -lake") == [
        "zoo.mp4",
        "storm.jpg",
        "waves.jpg",
        "sea-front.jpg",
    ]
    assert names(seaside, "tag:sea") == ["waves.jpg"]
    assert names(seaside, "sea", limit=0) == []


def test_equal_scores_list_the_newer_photo_first(db: Database) -> None:
    """Same caption, same score: taken_at decides, whatever the order they were added,
    also when the tie spans the number of rows fetched, and with a filter."""
    taken = ["2021", "2024", "2019", "2023", "2020", "2022"]
    for year in taken:
        item = add_item(db, f"{year}.jpg")
        with db.write() as conn:
            conn.exec_driver_sql(
                "UPDATE media_items SET taken_at = ? WHERE id = ?", (f"{year}-06-01", item)
            )
        store_model_caption(db, item, "a sunny meadow")
    newest_first = [f"{y}.jpg" for y in sorted(taken, reverse=True)]
    assert names(db, "meadow") == newest_first
    assert names(db, "meadow", limit=1) == ["2024.jpg"]  # 3 rows fetched, 6 tied
    assert names(db, "meadow", limit=2) == newest_first[:2]
    assert names(db, "meadow type:photo", limit=2) == newest_first[:2]
    assert len({h.score for h in search(db, "meadow")}) == 1


@pytest.fixture
def walks(db: Database) -> Database:
    """ "the" in every caption; "dog" and "park" in some, more or less prominently."""
    rows = [  # name, taken_at, caption, tags
        ("a.jpg", "2020", "the dog in the park", []),
        ("b.jpg", "2021", "the dog dog dog", ["park"]),
        ("c.jpg", "2022", "the long walk of the old dog through the park on a wet day", []),
        ("d.jpg", "2023", "the park", ["dog"]),
        ("e.jpg", "2024", "the cat in the park", []),
        ("f.jpg", "2019", "the dog park", ["dog", "park"]),
        ("g.jpg", "2018", "the lake", []),
        ("h.jpg", "2017", "the park in the dog days of summer", []),
    ]
    for name, year, text, tags in rows:
        item = add_item(db, name)
        with db.write() as conn:
            conn.exec_driver_sql(
                "UPDATE media_items SET taken_at = ? WHERE id = ?", (f"{year}-06-01", item)
            )
        store_model_caption(db, item, text, tags)
    return db


def bm25_order(db: Database, match: str) -> list[str]:
    """The names in the order of FTS5's bm25 over the whole expression `match`."""
    with db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT m.name FROM search_index s JOIN media_items m ON m.id = s.rowid "
            "WHERE search_index MATCH ? "
            "ORDER BY bm25(search_index, 10.0, 6.0, 3.0, 1.0, 0.0, 0.0, 0.0), m.taken_at DESC",
            (match,),
        ).all()
    return [name for (name,) in rows]


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("the dog park", '"the" AND "dog" AND "park"'),  # "the" is in every row
        ("dog the -cat", '"dog" AND "the" NOT "cat"'),
        ('"dog park"', '"dog park"'),
        ('"the dog" park', '"the dog" AND "park"'),
        ("cat OR lake the", '("cat" OR "lake") AND "the"'),
    ],
)
def test_narrow_queries_keep_the_bm25_order_of_the_whole_query(
    walks: Database, query: str, match: str
) -> None:
    """Ranking leaves out terms found in most rows (and -words), which bm25 gives an
    IDF of ~0: the order and the rows are those of bm25 over the whole query. (Only
    rows told apart by nothing but such ~1e-6 parts could come in another order.)"""
    hits = search(walks, query)
    assert {h.ranked_by for h in hits} == {"relevance"}
    assert [h.name for h in hits] == bm25_order(walks, match)


def test_a_common_term_is_left_out_of_the_ranking_but_not_of_the_matches(
    walks: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.core.search as search_module

    ranked: list[str] = []
    real = search_module._ranking_match

    def spy(conn, query):  # type: ignore[no-untyped-def]
        ranked.append(real(conn, query))
        return ranked[-1]

    monkeypatch.setattr(search_module, "_ranking_match", spy)
    # "the" is in every row, "dog" and "park" in 6 of 8: ranked by the rare word only,
    # but every hit holds every word.
    assert names(walks, "the cat park") == ["e.jpg"]
    assert ranked[-1] == '("cat")'
    assert names(walks, "lake the -cat") == ["g.jpg"]
    assert ranked[-1] == '("lake")'
    # Every term common: all stay. A single term or an OR group is ranked as it is.
    names(walks, "the dog")
    assert ranked[-1] == '("the") AND ("dog")'
    names(walks, "the")
    assert ranked[-1] == '("the")'
    names(walks, "cat OR lake the")
    assert ranked[-1] == '("cat" OR "lake")'
    assert names(walks, "the unicorn") == []


def test_unprobed_items_are_listed_but_not_searchable_until_probed(filled: Database) -> None:
    from app.core.search import recent

    with filled.write() as conn:
        fresh = conn.exec_driver_sql(
            """INSERT INTO media_items (root_id, path, name, folder, kind, size, mtime_ns,
                   added_at, taken_at, state)
               VALUES (1, ?, 'harbour.jpg', 'lib', 'photo', 1, 1, 0, '2025-01-01', 'new')""",
            (b"/lib/harbour.jpg",),
        ).lastrowid
    assert names(filled, "harbour") == []
    assert recent(filled)[0].name == "harbour.jpg"
    assert names(filled, "type:photo")[0] == "harbour.jpg"
    assert "harbour.jpg" in names(filled, "-dog")
    with filled.write() as conn:
        conn.exec_driver_sql("UPDATE media_items SET state = 'ok' WHERE id = ?", (fresh,))
    assert names(filled, "harbour") == ["harbour.jpg"]


# -- snippets -------------------------------------------------------------------------------
def snippet(db: Database, query: str) -> str:
    (hit,) = search(db, query)
    return hit.snippet


def test_snippets_highlight_words_stems_prefixes_phrases_and_diacritics(filled: Database) -> None:
    assert snippet(filled, "dogs") == "a [dog] running on the beach at sunset"
    assert snippet(filled, "mount*") == "a snowy [mountain] cabin, café sign"
    assert snippet(filled, '"red cars"') == "city lights at night with [red cars]"
    assert snippet(filled, "red cars") == "city lights at night with [red] [cars]"
    assert snippet(filled, "cafe") == "a snowy mountain cabin, [café] sign"
    assert snippet(filled, "CAFÉ") == "a snowy mountain cabin, [café] sign"
    assert snippet(filled, "tag:sunset") == "snow [sunset]"  # the tags: the caption lacks it
    assert snippet(filled, "folder:lib beach") == "a dog running on the [beach] at sunset"
    assert snippet(filled, "kite") == "a [kite] flying over the lake"  # a moment's caption
    assert snippet(filled, "snow.jpg") == "[snow.jpg]"  # the name; a phrase: one span


def test_snippet_is_a_window_around_the_first_match(db: Database) -> None:
    item = add_item(db, "long.jpg")
    words = [f"w{i}" for i in range(30)]
    words[20] = "heron"
    store_model_caption(db, item, " ".join(words) + ".")
    assert snippet(db, "heron") == "…w15 w16 w17 w18 w19 [heron] w21 w22 w23 w24 w25 w26…"
    words[20], words[2], words[28] = "w20", "heron", "heron"
    store_model_caption(db, item, " ".join(words) + ".")
    assert snippet(db, "heron") == "w0 w1 [heron] w3 w4 w5 w6 w7 w8 w9 w10 w11…"
    words[2] = "w2"
    store_model_caption(db, item, " ".join(words) + ".")
    assert snippet(db, "heron") == "…w18 w19 w20 w21 w22 w23 w24 w25 w26 w27 [heron] w29."


@pytest.mark.parametrize(
    ("word", "term", "prefix", "expected"),
    [
        ("dog", "dog", False, True),
        ("dogs", "dog", False, True),  # stems, roughly: one starts the other
        ("dog", "dogs", False, True),
        ("a", "and", False, False),  # too short to be a stem
        ("and", "a", False, False),
        ("doghouse", "dog", True, True),
        ("do", "dog", True, False),
        ("cat", "dog", False, False),
    ],
)
def test_word_matching_for_highlights(word: str, term: str, prefix: bool, expected: bool) -> None:
    from app.core.search_query import Term, term_spans, word_matches

    assert word_matches(word, term, prefix=prefix) is expected
    assert bool(term_spans([word], Term((term,), prefix))) is expected  # the quick path


def test_parsed_query_restricts_free_words_to_captions_and_tags() -> None:
    from app.core.search_query import parse_query

    query = parse_query('tag:sunset "red car" -dog beac', as_you_type=True)
    assert query.match == '((tags : "sunset") AND ("red car") AND ("beac"*)) NOT ("dog")'
    assert query.content_match == (
        '((tags : "sunset") AND ({caption tags} : "red car") AND ({caption tags} : "beac"*))'
        ' NOT ("dog")'
    )
    assert [(t.words, t.prefix, t.column) for t in query.terms] == [
        (("sunset",), False, "tags"),
        (("red", "car"), False, None),
        (("beac",), True, None),
    ]
