"""Which embedding model keeps the caption vectors (the setting embedding_model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.semantic.model_choice import EmbeddingModelMissing, choose_embedding_model
from models.embedding_catalog import load_embedding_catalog

BERT = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "embed_bert" / "model.gguf"


def test_off_and_nothing_installed_mean_keyword_search_only(tmp_path: Path) -> None:
    assert choose_embedding_model("off", tmp_path) is None
    assert choose_embedding_model("", tmp_path) is None  # the default, not downloaded yet


def test_a_gguf_path(tmp_path: Path) -> None:
    choice = choose_embedding_model(str(BERT), tmp_path)
    assert choice is not None and choice.path == str(BERT) and choice.query_prefix == ""
    with pytest.raises(EmbeddingModelMissing, match="not there"):
        choose_embedding_model(str(tmp_path / "gone.gguf"), tmp_path)


def test_a_catalog_model_must_be_downloaded_first(tmp_path: Path) -> None:
    entry = load_embedding_catalog().default
    with pytest.raises(EmbeddingModelMissing, match=f"models download {entry.id}"):
        choose_embedding_model(entry.id, tmp_path)
    with pytest.raises(EmbeddingModelMissing, match="No embedding model"):
        choose_embedding_model("no-such-model", tmp_path)
