"""app.core.listing: a search or a view as ids (what export, "All N in this view" and
`caption --query` act on), and what a re-caption leaves of the user's captions."""

from __future__ import annotations

from app.core.captions import CaptionStore
from app.core.gallery import GalleryQuery, gallery_rows
from app.core.listing import count_user_captioned, listed_ids, search_ids
from app.core.search import search
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.core.test_storage import add_item


def test_a_search_within_a_view_and_the_users_captions_counted(db: Database) -> None:
    rocket, cup, harbour = (add_item(db, n) for n in ("rocket.jpg", "cup.jpg", "harbour.jpg"))
    store_model_caption(db, rocket, "a rocket on the pad")
    store_model_caption(db, cup, "a cup of coffee")
    CaptionStore(db).add_user_caption(cup, "espresso before the rocket launch")
    store_model_caption(db, harbour, "a quiet harbour")

    assert sorted(search_ids(db, "rocket")) == sorted([rocket, cup])  # once each
    assert search_ids(db, "  ") == []
    assert sorted(listed_ids(db, GalleryQuery())) == sorted([rocket, cup, harbour])
    assert listed_ids(db, GalleryQuery(view="by_me"), "rocket") == [cup]
    assert listed_ids(db, GalleryQuery(view="needs_review"), "rocket") == [rocket]
    assert count_user_captioned(db, [rocket, cup, harbour]) == 1


def test_a_re_caption_keeps_the_users_caption_current_everywhere(db: Database) -> None:
    """The model caption a re-caption job stores (its own prompt and model) goes into
    the history; the caption, the gallery row and the search keep the user's words.
    (The worker end to end: tests/core/test_worker.py::test_user_caption_is_never_replaced;
    through `caption --query`: tests/test_cli_caption_query.py.)"""
    item = add_item(db, "astronaut.jpg")
    store_model_caption(db, item, "a person in a suit")
    mine = CaptionStore(db).add_user_caption(item, "Commander Eileen, 1990")

    store_model_caption(db, item, "an astronaut", model_id="other", prompt_id="detailed")

    current = CaptionStore(db).current(item)
    assert current is not None and current.id == mine.id
    row = gallery_rows(db, [item])[item]
    assert (row.caption, row.source) == ("Commander Eileen, 1990", "user")
    assert [h.item_id for h in search(db, "Eileen")] == [item]
    assert search(db, "suit") == []  # the model's words are history, not what is shown
    history = CaptionStore(db).history(item)
    assert (history[0].source, history[0].prompt_id) == ("model", "detailed")
