"""Settings → Search: the embedding models (download through the stand-in hub, remove), the
choice of model, the status line of search by meaning, and the fusion weights. Offscreen, on
a real database. The library's vectors come from ConceptEmbedderDouble (a named test double);
the real embedding model is tested in tests/semantic/test_embedding_worker.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import huggingface_hub
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from app.core.semantic.status import NO_MODEL, OFF_TEXT
from app.core.semantic.sync import EmbeddingSync
from app.core.settings import Settings
from app.core.storage.db import Database
from app.services.changes import Changes
from app.services.download_bridge import DownloadBridge
from app.ui.settings.dialog import SettingsDialog
from app.ui.settings.search_page import SearchPage
from app.ui.window.main_window import MainWindow
from models import transfer
from models.download import ENDPOINT_ENV
from models.embedding_catalog import EmbeddingEntry, load_embedding_catalog
from models.installed import read_installed_embedding
from tests.caption_support import store_model_caption
from tests.core.test_storage import add_item
from tests.models.conftest import FIXTURES
from tests.models.hub_server import StandInHub
from tests.semantic.embedder_double import ConceptEmbedderDouble
from tests.ui.ui_support import LAPTOP, fixed_probe, stored

CATALOG = load_embedding_catalog()
SMALL = CATALOG.get("bge-small-en-v1.5")
assert SMALL is not None
GGUF_BYTES = (FIXTURES / "embed_bert" / "model.gguf").read_bytes()
WAIT_MS = 15_000

OpenPage = Callable[[], SearchPage]


@pytest.fixture
def open_page(qtbot: QtBot, db: Database, data_dir: DataDir) -> Iterator[OpenPage]:
    """Opens Settings on the Search page, waiting until the page is filled in."""
    bridges: list[DownloadBridge] = []
    dialogs: list[SettingsDialog] = []  # kept alive: a page alone does not own its dialog

    def make() -> SearchPage:
        bridge = DownloadBridge(data_dir.models)
        bridges.append(bridge)
        dialog = SettingsDialog(db, data_dir, bridge, machine_probe=fixed_probe(LAPTOP))
        qtbot.addWidget(dialog)
        dialogs.append(dialog)
        dialog.show_page("Search")
        dialog.show()
        page = dialog.search_page
        qtbot.waitUntil(lambda: page.choice.isEnabled() and page.status.text != "", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: dialog.models_page.table.rowCount() > 0, timeout=WAIT_MS)
        return page

    yield make
    for bridge in bridges:
        bridge.cancel()
        assert bridge.wait(10)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInHub]:
    """The stand-in hub serving the tiny BERT embedding fixture as the catalog's BGE file."""
    assert SMALL is not None
    monkeypatch.setattr(transfer, "RETRY_DELAYS", (0.05,))
    server = StandInHub()
    server.add_repo(SMALL.gguf_repo, {SMALL.model_file: GGUF_BYTES})
    server.start()
    monkeypatch.setenv(ENDPOINT_ENV, server.endpoint)
    yield server
    huggingface_hub.close_session()
    server.stop()


def choices(page: SearchPage) -> list[str]:
    return [page.choice.itemText(i) for i in range(page.choice.count())]


def download(qtbot: QtBot, page: SearchPage, entry: EmbeddingEntry) -> None:
    page.select_model(entry.id)
    assert page.download_button.isEnabled()
    with qtbot.waitSignal(page.rows_shown, timeout=WAIT_MS):
        qtbot.mouseClick(page.download_button, Qt.MouseButton.LeftButton)
    assert page.status_of(entry.id).startswith("Downloading")
    qtbot.waitUntil(lambda: page.status_of(entry.id) == "✓ In use", timeout=WAIT_MS)


def test_the_page_lists_the_embedding_catalog_and_says_search_is_keyword_only(
    qtbot: QtBot, open_page: OpenPage
) -> None:
    page = open_page()
    assert page.table.rowCount() == len(CATALOG)
    names = [page.table.item(row, 0).text() for row in range(page.table.rowCount())]
    assert names[0] == f"{CATALOG.default.name}  ★ recommended"
    for row, entry in enumerate(CATALOG):
        assert entry.name in names[row]
        languages = page.table.item(row, 1).text()
        assert languages.startswith(entry.languages)
        assert languages.endswith("only") != entry.multilingual
        assert page.status_of(entry.id) == "Not installed"
    assert page.status_label.text() == NO_MODEL
    assert choices(page) == [
        f"Default (recommended): {CATALOG.default.name}",
        "A GGUF file…",
        "Off: keyword search only",
    ]
    assert not page.download_button.isEnabled() and not page.remove_button.isEnabled()
    page.select_model(CATALOG.default.id)
    assert page.download_button.isEnabled() and not page.cancel_button.isEnabled()


def test_download_shows_progress_and_the_model_installed_after(
    qtbot: QtBot, open_page: OpenPage, hub: StandInHub, db: Database, data_dir: DataDir
) -> None:
    assert SMALL is not None
    hub.bad.chunk_delay = 0.01  # slow enough to see the progress
    page = open_page()
    bridge = page._bridge
    with qtbot.waitSignal(bridge.embedding_installed, timeout=WAIT_MS) as installed:
        page.select_model(SMALL.id)
        page.download_selected()
        assert page.progress_bar.isVisibleTo(page) and page.cancel_button.isEnabled()
        qtbot.waitUntil(lambda: " of " in page.progress_label.text(), timeout=WAIT_MS)
    assert installed.args == [SMALL.id]
    qtbot.waitUntil(lambda: page.status_of(SMALL.id) == "✓ In use", timeout=WAIT_MS)
    assert read_installed_embedding(SMALL.id, data_dir.models) is not None
    assert page.message.text().startswith(f"Installed {SMALL.name}")
    assert SMALL.name in choices(page)
    qtbot.waitUntil(lambda: SMALL.name in page.status_label.text(), timeout=WAIT_MS)
    # The Models page kept out of it: no caption model became active.
    assert stored(db, "active_model") == ""
    assert not page.progress_bar.isVisibleTo(page)


def test_removing_the_model_in_use_says_what_happens(
    qtbot: QtBot, open_page: OpenPage, hub: StandInHub, db: Database, data_dir: DataDir
) -> None:
    assert SMALL is not None
    page = open_page()
    download(qtbot, page, SMALL)
    questions: list[str] = []
    page.confirm = lambda question: questions.append(question) or False
    page.select_model(SMALL.id)
    qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    assert "Search by meaning uses" in questions[0] and "keywords only" in questions[0]
    assert read_installed_embedding(SMALL.id, data_dir.models) is not None  # said no
    page.confirm = lambda _question: True
    qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.status_of(SMALL.id) == "Not installed", timeout=WAIT_MS)
    assert read_installed_embedding(SMALL.id, data_dir.models) is None
    qtbot.waitUntil(lambda: page.status_label.text() == NO_MODEL, timeout=WAIT_MS)
    assert stored(db, "embedding_model") == ""


def test_choosing_a_file_and_off_saves_the_setting(
    qtbot: QtBot, open_page: OpenPage, db: Database, tmp_path
) -> None:
    page = open_page()
    dialog = page.window()
    assert isinstance(dialog, SettingsDialog)
    gguf = tmp_path / "my-embedder.gguf"
    gguf.write_bytes(GGUF_BYTES)

    page.choose_file = lambda: ""  # the file dialog cancelled: nothing changes
    page.choice.setCurrentIndex(page.choice.findText("A GGUF file…"))
    page.choice.activated.emit(page.choice.currentIndex())
    assert page.choice.currentIndex() == 0 and stored(db, "embedding_model") == ""

    page.choose_file = lambda: str(gguf)
    with qtbot.waitSignal(dialog.settings_changed, timeout=WAIT_MS) as changed:
        page.choice.activated.emit(page.choice.findText("A GGUF file…"))
    assert changed.args == [{"embedding_model"}]
    assert stored(db, "embedding_model") == str(gguf)
    assert page.choice.currentText() == "File: my-embedder.gguf"

    with qtbot.waitSignal(dialog.settings_changed, timeout=WAIT_MS) as changed:
        page.choice.activated.emit(page.choice.findText("Off: keyword search only"))
    assert changed.args == [{"embedding_model"}]
    assert stored(db, "embedding_model") == "off"
    qtbot.waitUntil(lambda: page.status_label.text() == OFF_TEXT, timeout=WAIT_MS)

    with qtbot.waitSignal(dialog.settings_changed, timeout=WAIT_MS):
        page.choice.activated.emit(0)
    assert stored(db, "embedding_model") == ""
    qtbot.waitUntil(lambda: page.status_label.text() == NO_MODEL, timeout=WAIT_MS)


def test_the_status_line_reads_ready_and_filling_from_the_library(
    qtbot: QtBot, open_page: OpenPage, db: Database
) -> None:
    for n, caption in enumerate(("a puppy on the beach", "snow on a mountain", "a cat")):
        store_model_caption(db, add_item(db, f"{n}.jpg"), caption, [])
    EmbeddingSync(db, ConceptEmbedderDouble(), "Concept double").run_until_done()
    page = open_page()
    assert page.status_label.text() == "Ready — 3 captions searchable with Concept double."
    assert page.status.tone == "ok"

    # Another model starts reading the captions; the first one keeps answering.
    EmbeddingSync(db, ConceptEmbedderDouble("concept-double-v2"), "Concept double 2").start()
    page.read_status()
    qtbot.waitUntil(lambda: page.status_label.text().startswith("Reading"), timeout=WAIT_MS)
    assert page.status_label.text() == (
        "Reading captions with Concept double 2: 3 left "
        "(searches use the previous model meanwhile)."
    )
    assert page.status.filling and page._refresh.isActive()  # reads again while shown
    page.window().close()
    assert not page._refresh.isActive()


def test_the_weights_are_saved_and_reset(qtbot: QtBot, open_page: OpenPage, db: Database) -> None:
    page = open_page()
    dialog = page.window()
    assert isinstance(dialog, SettingsDialog)
    spins = page.weight_spins
    qtbot.waitUntil(spins["fusion_phrase_weight"].isEnabled, timeout=WAIT_MS)
    assert [spin.value() for spin in spins.values()] == [1.0, 1.0, 1.0]
    with qtbot.waitSignal(dialog.settings_changed, timeout=WAIT_MS) as changed:
        spins["fusion_semantic_weight"].setValue(2.5)
    assert changed.args == [{"fusion_semantic_weight"}]
    with qtbot.waitSignal(dialog.settings_changed, timeout=WAIT_MS):
        spins["fusion_keyword_weight"].setValue(0.0)
    assert stored(db, "fusion_semantic_weight") == 2.5
    assert stored(db, "fusion_keyword_weight") == 0.0

    with qtbot.waitSignal(dialog.settings_changed, timeout=WAIT_MS) as changed:
        qtbot.mouseClick(page.reset_weights_button, Qt.MouseButton.LeftButton)
    assert changed.args == [
        {"fusion_keyword_weight", "fusion_semantic_weight", "fusion_phrase_weight"}
    ]
    assert [spin.value() for spin in spins.values()] == [1.0, 1.0, 1.0]
    assert (
        stored(db, "fusion_semantic_weight") == 1.0 and stored(db, "fusion_keyword_weight") == 1.0
    )


def test_the_window_restarts_the_worker_when_a_default_model_arrives(
    qtbot: QtBot, open_window: Callable[[], object]
) -> None:
    """An embedding model installed with the default choice: the window publishes the
    setting, so the worker restarts and reads the captions with it (Settings may be closed
    by then). With a model chosen by name, nothing changes."""
    window = open_window()
    assert isinstance(window, MainWindow)
    seen: list[Changes] = []
    window.hub.changed.connect(seen.append)
    window.downloads.embedding_installed.emit("bge-small-en-v1.5")
    qtbot.waitUntil(lambda: any("embedding_model" in c.settings for c in seen), timeout=WAIT_MS)

    Settings(window.db).set("embedding_model", "qwen3-embedding-0.6b")
    seen.clear()
    window.downloads.embedding_installed.emit("bge-small-en-v1.5")
    qtbot.wait(300)
    assert not any("embedding_model" in c.settings for c in seen)


def test_a_choice_in_the_window_s_settings_is_published_on_the_hub(
    qtbot: QtBot, open_window: Callable[[], object]
) -> None:
    window = open_window()
    assert isinstance(window, MainWindow)
    seen: list[Changes] = []
    window.hub.changed.connect(seen.append)
    window.extras.open_settings("Search")
    dialog = window.extras.settings_dialog
    assert dialog is not None
    page = dialog.search_page
    qtbot.waitUntil(page.choice.isEnabled, timeout=WAIT_MS)
    page.choice.activated.emit(page.choice.findData("off"))
    qtbot.waitUntil(lambda: any("embedding_model" in c.settings for c in seen), timeout=WAIT_MS)
    assert Settings(window.db).read().embedding_model == "off"
    dialog.close()
