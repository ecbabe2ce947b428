"""The sentence Settings → Search shows about search by meaning, from the library and the
setting. ConceptEmbedderDouble (a named test double) makes the library's vectors."""

from __future__ import annotations

from pathlib import Path

from app.core.semantic.status import NO_MODEL, OFF_TEXT, meaning_status
from app.core.semantic.sync import EmbeddingSync
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.core.test_storage import add_item
from tests.semantic.embedder_double import ConceptEmbedderDouble

BERT = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "embed_bert" / "model.gguf"


def captioned(db: Database, *captions: str) -> None:
    for caption in captions:
        store_model_caption(db, add_item(db, f"{caption}.jpg"), caption, [])


def test_nothing_installed_off_and_a_file_not_read_yet(db: Database, tmp_path: Path) -> None:
    captioned(db, "a dog")
    assert meaning_status(db, "", tmp_path).text == NO_MODEL
    assert meaning_status(db, "off", tmp_path).text == OFF_TEXT
    waiting = meaning_status(db, str(BERT), tmp_path)
    assert waiting.text.startswith("model is installed; it reads your captions")
    assert (waiting.tone, waiting.filling) == ("info", True)


def test_ready_filling_and_a_missing_model(db: Database, tmp_path: Path) -> None:
    captioned(db, "a dog", "a cat")
    EmbeddingSync(db, ConceptEmbedderDouble(), "Double").run_until_done()
    ready = meaning_status(db, "", tmp_path)
    assert (ready.text, ready.tone) == ("Ready — 2 captions searchable with Double.", "ok")
    assert not ready.filling
    # Another model chosen: still ready with the old one, and worth reading again soon.
    assert meaning_status(db, str(BERT), tmp_path).filling
    captioned(db, "a kite")  # a new caption waits for its vector
    assert meaning_status(db, "", tmp_path).text == (
        "Ready — 2 captions searchable with Double; 1 new caption waiting."
    )
    missing = meaning_status(db, "bge-small-en-v1.5", tmp_path)  # chosen, then removed
    assert missing.tone == "error" and "not downloaded yet" in missing.text

    EmbeddingSync(db, ConceptEmbedderDouble("double-2"), "Double 2").start()
    filling = meaning_status(db, "", tmp_path)
    assert filling.text == (
        "Reading captions with Double 2: 3 left (searches use the previous model meanwhile)."
    )
    assert filling.filling
