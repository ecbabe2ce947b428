"""The embedding-model catalog data file and its loader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from models.catalog import load_catalog
from models.embedding import EmbeddingPrompts
from models.embedding_catalog import (
    EMBEDDING_CATALOG_PATH,
    default_embedding_model,
    load_embedding_catalog,
)
from models.errors import CatalogError
from models.hub import RemoteFile, RepoListing, pick_files


def test_the_bundled_catalog_has_a_multilingual_default_and_a_small_english_model() -> None:
    catalog = load_embedding_catalog()
    assert catalog.source == EMBEDDING_CATALOG_PATH
    assert catalog.default == default_embedding_model()
    assert catalog.default.multilingual
    assert {"embeddinggemma-300m", "qwen3-embedding-0.6b", "bge-small-en-v1.5"} <= set(catalog.ids)
    english = [entry for entry in catalog if not entry.multilingual]
    assert english and min(entry.download_mb for entry in english) < 100


def test_ids_do_not_collide_with_caption_models() -> None:
    # Both kinds install into <data dir>/models/<id>/.
    assert not set(load_embedding_catalog().ids) & set(load_catalog().ids)


def test_documented_prompts() -> None:
    catalog = load_embedding_catalog()
    gemma = catalog.get("embeddinggemma-300m")
    assert gemma is not None and gemma.prompts == EmbeddingPrompts(
        "task: search result | query: ", "title: none | text: "
    )
    qwen = catalog.get("qwen3-embedding-0.6b")
    assert qwen is not None and qwen.document_prefix == "" and qwen.pooling == "last"
    assert re.fullmatch(r"Instruct: .+\nQuery:", qwen.query_prefix)


@pytest.mark.parametrize("entry", load_embedding_catalog().entries, ids=lambda entry: entry.id)
def test_every_entry_is_well_formed(entry) -> None:
    assert entry.model_file.endswith(".gguf") and entry.revision == "main"
    assert entry.quantization.lower() in entry.model_file.lower()
    assert 10 <= entry.download_mb <= 2_000 and 0 < entry.ram_gb <= 4
    assert entry.dimension in (384, 512, 768, 1024) and entry.context_size >= 512
    assert entry.pooling in ("mean", "cls", "last") and entry.license and entry.languages
    assert entry.kind == "embedding"
    (wanted,) = entry.wanted_files()
    assert wanted.role == "model" and not wanted.projector


def _write(tmp_path: Path, mutate) -> Path:
    data = json.loads(EMBEDDING_CATALOG_PATH.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "embedding_catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["models"][0].pop("dimension"), "missing field 'dimension'"),
        (lambda d: d["models"][0].update(dims=3), "unknown field"),
        (lambda d: d["models"][0].update(multilingual="yes"), "'multilingual' must be a bool"),
        (lambda d: d["models"][0].update(dimension=768.0), "'dimension' must be a int"),
        (lambda d: d["models"][0].update(query_prefix=None), "'query_prefix' must be a str"),
        (lambda d: d["models"][0].update(name=" "), "'name' must be a str"),
        (lambda d: d["models"][1].update(id=d["models"][0]["id"]), "appears twice"),
        (lambda d: d["models"][0].update(id="../evil"), "id must be"),
        (lambda d: d["models"][0].update(model_file="mmproj-x-Q8_0.gguf"), "not an mmproj"),
        (lambda d: d["models"][0].update(quantization="Q4_K_M"), "name its quantization"),
        (lambda d: d["models"][0].update(dimension=0), "dimension must be positive"),
        (lambda d: d["models"][0].update(pooling="max"), "pooling must be one of"),
        (lambda d: d["models"][0].update(gguf_repo="no-slash"), "owner/name"),
        (
            lambda d: d["models"][0].update(query_prefix="same", document_prefix="same"),
            "are the same",
        ),
        (lambda d: d.update(default_id="nope"), '"default_id" must name'),
        (lambda d: d.pop("default_id"), '"default_id" must name'),
        (lambda d: d.update(models=[]), "non-empty list"),
        (lambda d: d.update(format=2), "format"),
    ],
)
def test_a_broken_catalog_file_is_a_clear_error(tmp_path: Path, mutate, message: str) -> None:
    with pytest.raises(CatalogError, match=re.escape(message)):
        load_embedding_catalog(_write(tmp_path, mutate))


def test_empty_prefixes_are_allowed_and_an_override_is_used(tmp_path: Path) -> None:
    def only_first_without_prompts(data: dict) -> None:
        data["models"] = data["models"][:1]
        data["models"][0].update(query_prefix="", document_prefix="")

    catalog = load_embedding_catalog(_write(tmp_path, only_first_without_prompts))
    assert catalog.ids == ["embeddinggemma-300m"]
    assert catalog.default.prompts == EmbeddingPrompts()
    with pytest.raises(CatalogError, match="missing"):
        load_embedding_catalog(tmp_path / "nope.json")


def test_the_gguf_is_picked_from_a_listing_by_name_or_quantization() -> None:
    entry = load_embedding_catalog().get("embeddinggemma-300m")
    assert entry is not None

    def pick(*names: str) -> list[str]:
        listing = RepoListing(
            entry.gguf_repo, "c" * 40, tuple(RemoteFile(n, 1, None) for n in names)
        )
        return [remote.name for remote in pick_files(entry, listing)]

    assert pick("embeddinggemma-300M-BF16.gguf", entry.model_file) == [entry.model_file]
    assert pick("embeddinggemma-300m-q8_0.gguf", "x-F16.gguf") == ["embeddinggemma-300m-q8_0.gguf"]
