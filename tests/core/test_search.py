"""Search semantics: syntax, filters, ranking, moments, and hostile input."""

from __future__ import annotations

import pytest

from app.core.captions import CaptionStore
from app.core.search import search
from app.core.storage.db import Database
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
            store.add_model_caption(item, text, tags)
    video = next(h.item_id for h in search(db, "picnic"))
    with db.write() as conn:
        kf = conn.exec_driver_sql(
            "INSERT INTO keyframes (item_id, timestamp) VALUES (?, 42.5)", (video,)
        ).lastrowid
    store.add_model_caption(video, "a kite flying over the lake", ["kite"], keyframe_id=kf)
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
    store = CaptionStore(filled)
    # A caption match outranks a file-name match for the same word.
    other = add_item(filled, "night.jpg")
    store.add_model_caption(other, "a quiet lake")
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
