"""Search by meaning in the window (issue 14): the search box lists hits found by
meaning with "≈ similar meaning", says quietly when it searched words only, Find similar
from the right-click menu, "All N in this view" acting on what the gallery shows, and
the activity panel's line.

Most tests search with ConceptEmbedderDouble, a TEST DOUBLE for an embedding model
(tests/semantic/embedder_double.py: "hond strand" means "a puppy on the sand"), through
a Finder injected into the window's SearchService, so ranks can be asserted. One test
runs the real path: the window's own `captionist embed-queries` process with the tiny
random-weight GGUF fixture, on vectors made by `captionist embed` with the same model.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from app.cli.main import main
from app.core.captioning.events import EmbeddingFailed, EmbeddingProgress
from app.core.datadir import DataDir
from app.core.listing import listed_ids
from app.core.semantic.hybrid import Finder
from app.core.semantic.sync import EmbeddingSync
from app.core.storage.embedding_rows import StoredModel
from app.ui.activity.meaning_line import MeaningLine
from app.ui.gallery.browser import MEANING_GAP, MEANING_LIMIT, SEARCH_LIMIT, listing_ids
from app.ui.gallery.model import HIT_ROLE
from app.ui.window.main_window import MainWindow
from tests.caption_support import store_model_caption
from tests.semantic.embedder_double import ConceptEmbedderDouble
from tests.ui.test_main_window import WAIT, item_id, window_with

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures/models/embed_bert/model.gguf"
PHOTOS = {"puppy.jpg": "astronaut", "dogbeach.jpg": "coffee", "city.jpg": "chelsea"}
CAPTIONS = {
    "puppy.jpg": "a puppy running on the sand",
    "dogbeach.jpg": "a dog on the beach at dusk",
    "city.jpg": "city lights at night with red cars",
}


def captioned(window: MainWindow) -> dict[str, int]:
    ids = {name: item_id(window, name) for name in CAPTIONS}
    for name, text in CAPTIONS.items():
        store_model_caption(window.db, ids[name], text)
    return ids


def with_concept_double(window: MainWindow) -> ConceptEmbedderDouble:
    """Vectors for every caption and a Finder whose queries the double embeds, in
    place of the window's query process."""
    double = ConceptEmbedderDouble()
    EmbeddingSync(window.db, double, "Concept double").run_until_done()

    def embed(model: StoredModel, text: str):  # type: ignore[no-untyped-def]
        assert model.model_key == double.model_id
        return double.embed_query(text)

    window.search.use(Finder(window.db, embed))
    return double


def listed_names(window: MainWindow) -> list[str]:
    model = window.gallery_model
    rows = [model.row_of(i) for i in model.ids()]
    return [r.name if r else "?" for r in rows]


def test_the_search_box_finds_by_meaning_and_says_why_each_hit_matched(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "Trip", PHOTOS)
    ids = captioned(window)
    with_concept_double(window)

    window.toolbar.search.setText("hond strand")  # Dutch: no word of it is in a caption
    qtbot.waitUntil(lambda: window.gallery_model.has_hits(), timeout=WAIT)
    qtbot.waitUntil(lambda: "?" not in listed_names(window), timeout=WAIT)
    # The city is not listed: it means nothing like it (Browser's MEANING_GAP).
    assert listed_names(window) == ["puppy.jpg", "dogbeach.jpg"]
    hit = window.gallery_model.hit_of(ids["puppy.jpg"])
    assert hit is not None and hit.match == "semantic"
    assert hit.snippet == "a puppy running on the sand"  # the caption that matched
    index = window.gallery_model.index_of(ids["puppy.jpg"])
    assert index.data(HIT_ROLE) == hit
    tip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("≈ similar meaning: a puppy running on the sand")
    assert not window.toolbar.meaning_notice.isVisible()  # meaning was used
    assert window.toolbar.count.text() == "2 matches · ≈ 2 by meaning"
    assert "found by meaning" in window.toolbar.count.toolTip()

    # Words and meaning together: the keyword hit keeps its highlighted snippet.
    window.toolbar.search.setText("puppy sand")
    qtbot.waitUntil(
        lambda: (
            window.browser.listing.text == "puppy sand"
            and (h := window.gallery_model.hit_of(ids["puppy.jpg"])) is not None
            and h.match == "both"
        ),
        timeout=WAIT,
    )
    both = window.gallery_model.hit_of(ids["puppy.jpg"])
    assert both is not None and "«puppy»" in both.snippet
    tip = window.gallery_model.index_of(ids["puppy.jpg"]).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("Matched your words and their meaning")


def test_without_an_embedding_model_the_search_says_quietly_it_found_words_only(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "Trip", PHOTOS)
    captioned(window)
    window.toolbar.search.setText("puppy")
    qtbot.waitUntil(lambda: window.toolbar.meaning_notice.isVisible(), timeout=WAIT)
    assert listed_names(window) == ["puppy.jpg"]
    assert window.gallery_model.hit_of(window.gallery_model.ids()[0]).match == "keyword"  # type: ignore[union-attr]
    notice = window.toolbar.meaning_notice
    assert notice.text() == "Words only"  # subtle: the app works fine without a model
    assert "embedding model" in notice.toolTip() and "Settings" in notice.toolTip()
    window.toolbar.search.setText("")
    qtbot.waitUntil(lambda: not window.toolbar.meaning_notice.isVisible(), timeout=WAIT)


def test_find_similar_from_the_right_click_menu_and_back(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "Trip", {**PHOTOS, "blank.jpg": "rocket"})
    ids = captioned(window)
    ids["blank.jpg"] = item_id(window, "blank.jpg")
    with_concept_double(window)
    window.gallery.select_item(ids["puppy.jpg"])
    window.items.context_menu(window.gallery.mapToGlobal(window.gallery.rect().center()))
    menu: QMenu = window.items.last_menu
    action = next(a for a in menu.actions() if a.text() == "Find similar")
    assert action.isEnabled()
    action.trigger()
    menu.close()
    qtbot.waitUntil(lambda: window.browser.listing.similar, timeout=WAIT)
    qtbot.waitUntil(lambda: window.gallery_model.ids() == [ids["dogbeach.jpg"]], timeout=WAIT)
    # Not the puppy itself, not the blank photo (no caption, no meaning), not the city
    # (nothing like it).
    hit = window.gallery_model.hit_of(ids["dogbeach.jpg"])
    assert hit is not None and hit.match == "semantic"
    assert window.gallery.current_item() == ids["dogbeach.jpg"]  # the nearest, in details
    scope = window.toolbar.scope
    qtbot.waitUntil(lambda: scope.isVisible(), timeout=WAIT)
    assert "Similar to puppy.jpg" in scope.text() and "Back" in scope.text()
    assert window.toolbar.count.text() == "1 similar"
    # "All 1 similar to puppy.jpg with…" acts on exactly these.
    finder = window.search.finder
    assert listing_ids(window.db, window.browser.listing, finder) == window.gallery_model.ids()
    assert "similar to puppy.jpg" in window.items.whole.menu.title()
    export = window.extras.open_export()  # exports what the gallery shows
    assert "similar to puppy.jpg (1 item)" in export.view_radio.text()
    selection = export._selection()(window.db)
    assert selection.item_ids == (ids["dogbeach.jpg"],)
    export.close()

    window.gallery.setFocus()
    qtbot.keyClick(window.gallery, Qt.Key.Key_Escape)  # back to the view
    qtbot.waitUntil(lambda: len(window.gallery_model.ids()) == 4, timeout=WAIT)
    assert not window.browser.listing.similar
    qtbot.waitUntil(lambda: not scope.isVisible(), timeout=WAIT)
    assert window.gallery.current_item() == ids["puppy.jpg"]  # back where the user was

    # An item without a caption has nothing to compare: the listing stays, and says why.
    window.gallery.select_item(ids["blank.jpg"])
    window.items.find_similar.trigger()
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=WAIT)
    assert "no caption" in window.notice.label.text()
    assert not window.browser.listing.similar
    # Two selected: Find similar is for one item.
    window.gallery.selectAll()
    assert not window.items.find_similar.isEnabled()


def test_all_n_in_this_view_acts_on_the_hybrid_search_the_gallery_shows(
    qtbot: QtBot, open_window: object, tmp_path: Path
) -> None:
    window = window_with(qtbot, open_window, tmp_path / "Trip", PHOTOS)
    captioned(window)
    with_concept_double(window)
    window.toolbar.search.setText("dog dusk")
    qtbot.waitUntil(
        lambda: window.browser.listing.text == "dog dusk" and window.gallery_model.has_hits(),
        timeout=WAIT,
    )
    shown = window.gallery_model.ids()
    assert shown[0] == item_id(window, "dogbeach.jpg")  # words and meaning
    finder = window.search.finder
    listing = window.browser.listing
    assert listing_ids(window.db, listing, finder) == shown
    assert (
        listed_ids(
            window.db,
            listing.query,
            listing.text,
            limit=SEARCH_LIMIT,
            as_you_type=True,
            finder=finder,
            meaning_limit=MEANING_LIMIT,
            meaning_gap=MEANING_GAP,
        )
        == shown
    )
    # Keyword search alone (the CLI without a model) finds only the words' item.
    assert listed_ids(window.db, listing.query, listing.text, as_you_type=True) == [
        item_id(window, "dogbeach.jpg")
    ]


def test_the_real_query_process_searches_by_meaning_in_the_window(
    qtbot: QtBot, open_window: object, tmp_path: Path, data_dir: DataDir
) -> None:
    """The window's own `captionist embed-queries` child process with the tiny fixture
    model (random weights: the order means nothing, that meaning was used does)."""
    folder = tmp_path / "Trip"
    window = window_with(qtbot, open_window, folder, PHOTOS)
    captioned(window)
    root = str(data_dir.root)
    assert main(["--data-dir", root, "embed", "--model", str(FIXTURE_MODEL), "--json"]) == 0
    process = window.search._process
    assert process is not None and process._process is None  # not before it is needed
    window.toolbar.search.setFocus()  # the process starts now, before the first keystroke
    window.search.warm_up()  # (offscreen, focus may not arrive)
    qtbot.waitUntil(lambda: process._process is not None, timeout=60_000)
    window.toolbar.search.setText("a kite over the lake")
    qtbot.waitUntil(
        lambda: (
            window.browser.listing.text == "a kite over the lake"
            and window.gallery_model.has_hits()
        ),
        timeout=60_000,
    )
    hits = [window.gallery_model.hit_of(i) for i in window.gallery_model.ids()]
    assert all(hit is not None and hit.match == "semantic" for hit in hits)
    assert window.browser.notice == "" and not window.toolbar.meaning_notice.isVisible()
    assert process._process is not None  # started, in a child
    child = process._process.process
    window.close()
    assert child.poll() is not None  # closed with the window


def test_a_video_found_by_meaning_keeps_its_moment() -> None:
    """A hit in a video moment's caption carries the moment, whatever found it: the
    gallery's badge, the details and the large view open the video there."""
    from app.core.search import SearchHit
    from app.ui.gallery.browser import hit_info

    hit = SearchHit(7, "/v.mp4", "v.mp4", "video", "a kite", 0.9, 42.5, 3, None, match="semantic")
    info = hit_info(hit)
    assert (info.timestamp, info.match, info.by_meaning_only) == (42.5, "semantic", True)


def test_the_activity_line_for_search_by_meaning(qtbot: QtBot) -> None:
    line = MeaningLine()
    qtbot.addWidget(line)
    assert line.isHidden()  # no embedding model: nothing to say
    line.show_event(EmbeddingProgress("EmbeddingGemma 300M", 1234, 10, False))
    assert not line.isHidden()
    assert line.text() == "Search by meaning: getting ready, reading captions — 1,234 left"
    line.show_event(EmbeddingProgress("EmbeddingGemma 300M", 3, 1300, True))
    assert line.text() == "Search by meaning: reading captions — 3 left"
    line.show_event(EmbeddingProgress("EmbeddingGemma 300M", 0, 1303, True))
    assert line.text() == "Search by meaning ready (EmbeddingGemma 300M)"
    assert line.tone == "muted"
    line.show_event(EmbeddingFailed("EmbeddingGemma 300M: not an embedding model"))
    assert line.text() == "Search by meaning is off: EmbeddingGemma 300M: not an embedding model"
    assert line.tone == "error"
    line.reset()
    assert line.isHidden()


def test_the_window_shows_the_activity_line_from_worker_events(
    qtbot: QtBot, open_window: object
) -> None:
    window: MainWindow = open_window()  # type: ignore[operator]
    line = window.activity.meaning_line
    assert line.isHidden()
    window.activity.handle_worker_event(EmbeddingProgress("Concept double", 5, 0, False))
    assert line.isVisible() and "5 left" in line.text()
    window.activity.handle_worker_event(EmbeddingFailed("the model file is gone"))
    assert line.tone == "error" and "the model file is gone" in line.text()
    from app.services.changes import Changes

    window.hub.publish(Changes(settings=frozenset({"embedding_model"})))
    assert line.isHidden()


def test_fusion_weights_follow_settings(qtbot: QtBot, open_window: object) -> None:
    window: MainWindow = open_window()  # type: ignore[operator]
    from app.core.settings import Settings
    from app.services.changes import Changes

    Settings(window.db).set("fusion_semantic_weight", 2.5)
    window.hub.publish(Changes(settings=frozenset({"fusion_semantic_weight"})))
    qtbot.waitUntil(lambda: window.search.finder.fusion.semantic == 2.5, timeout=WAIT)
