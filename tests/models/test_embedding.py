"""TextEmbedder on the tiny embedding fixtures, through real llama.cpp inference (no doubles).

The fixtures' vectors mean nothing (random weights); what is tested is the machinery: shapes,
unit length, batching, prefixes, truncation, hostile text and broken files.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.embedding import EmbeddingError, EmbeddingPrompts, TextEmbedder, model_identity
from tests.models.conftest import FIXTURES

# BERT (mean pooling, WordPiece) and an EmbeddingGemma-like model (SentencePiece,
# bidirectional Gemma 3 layers, mean pooling, two Dense layers): see tests/fixtures/models/.
EMBEDDERS = ("embed_bert", "embed_gemma")
HOSTILE = [
    "",
    " ",
    "\n\t",
    "😀🐕🏖️",
    "x" * 10_000,
    "dog " * 3_000,
    "\x00\x01\x02 nul and controls \x7f\x9f",
    "lone surrogate \ud800 here \udfff",
    "'; DROP TABLE items; --",
    '"unbalanced',
    "日本語のキャプション、浜辺の犬",
    "\u202e right-to-left override \u200b zero width",
    "[CLS] [SEP] <bos> <eos> <pad> [MASK]",
]


def gguf(name: str) -> Path:
    return FIXTURES / name / "model.gguf"


@pytest.fixture(scope="module", params=EMBEDDERS)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def embedder(name: str) -> Iterator[TextEmbedder]:
    prompts = EmbeddingPrompts(query_prefix="task: search result | query: ")
    with TextEmbedder(gguf(name), prompts=prompts, n_threads=1) as loaded:
        yield loaded


def unit_rows(vectors: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(vectors, axis=-1), 1.0, atol=1e-5))


def test_shape_dtype_and_unit_length(embedder: TextEmbedder) -> None:
    vectors = embedder.embed_documents(["a dog on the beach", "a cat on a sofa", "snow"])
    assert vectors.shape == (3, embedder.dimension) and vectors.dtype == np.float32
    assert embedder.dimension == 64
    assert unit_rows(vectors)
    query = embedder.embed_query("dog beach")
    assert query.shape == (64,) and query.dtype == np.float32 and unit_rows(query)
    assert embedder.embed_documents([]).shape == (0, 64)


def test_vectors_match_transformers(name: str, embedder: TextEmbedder) -> None:
    """The fixture's reference vector was computed by transformers (mean pooling, Dense)."""
    reference = json.loads((FIXTURES / name / "fixture.json").read_text())["hf_reference"]
    vector = embedder.embed_documents([reference["text"]])[0]
    assert float(vector @ np.asarray(reference["vector"])) > 0.999


def test_deterministic_and_distinct(embedder: TextEmbedder) -> None:
    texts = ["a red car on a quiet street", "two children build a sandcastle"]
    first, second = embedder.embed_documents(texts), embedder.embed_documents(texts)
    assert np.array_equal(first, second)
    assert float(first[0] @ first[1]) < 0.99


def test_batch_equals_one_at_a_time(embedder: TextEmbedder) -> None:
    texts = [
        "a dog runs across a grassy field at sunset",
        "",
        "snow",
        "a bowl of ramen with egg, green onions and noodles " * 4,
        "x" * 5_000,  # truncated: fills a whole decode on its own
        "ein Hund läuft am Strand entlang",
    ] * 5
    together = embedder.embed_documents(texts)
    alone = np.stack([embedder.embed_documents([text])[0] for text in texts])
    assert np.min(np.sum(together * alone, axis=1)) > 0.999


def test_document_and_query_prefixes(name: str, embedder: TextEmbedder) -> None:
    text = "a horse grazing in a meadow"
    document = embedder.embed_documents([text])[0]
    query = embedder.embed_query(text)
    assert float(document @ query) < 0.9999  # the query prefix changed the input
    with TextEmbedder(gguf(name), n_threads=1) as bare:  # no prompts: query == document
        assert float(bare.embed_query(text) @ bare.embed_documents([text])[0]) > 0.99999


def test_hostile_texts_never_raise(embedder: TextEmbedder) -> None:
    vectors = embedder.embed_documents(HOSTILE)
    assert vectors.shape == (len(HOSTILE), 64) and unit_rows(vectors)
    for text in HOSTILE:
        assert unit_rows(embedder.embed_query(text))


def test_long_text_is_truncated_not_refused(embedder: TextEmbedder) -> None:
    # Past the context the rest of a text cannot change its vector.
    long = "the quick brown fox " * 400
    a, b = embedder.embed_documents([long, long + " and a completely different ending"])
    assert float(a @ b) > 0.99999


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzz_random_texts(name: str, seed: int) -> None:
    rng = random.Random(seed)
    alphabet = [chr(c) for c in range(0x20, 0x7F)] + list("äöüßéñ日本語😀\n\t\x00\u200b\ud800")
    texts = [
        "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 5, 40, 300, 3000])))
        for _ in range(40)
    ]
    with TextEmbedder(gguf(name), n_threads=1, n_ctx=rng.choice([64, 128, 512])) as embedder:
        together = embedder.embed_documents(texts)
        assert together.shape == (40, 64) and unit_rows(together)
        sample = rng.sample(range(40), 5)
        alone = embedder.embed_documents([texts[i] for i in sample])
        assert np.min(np.sum(together[sample] * alone, axis=1)) > 0.999


def test_model_id_is_stable_and_tells_models_apart(tmp_path: Path) -> None:
    copy = tmp_path / "model.gguf"
    shutil.copyfile(gguf("embed_bert"), copy)
    assert model_identity(copy) == model_identity(gguf("embed_bert"))
    assert model_identity(gguf("embed_bert")) != model_identity(gguf("embed_gemma"))
    with TextEmbedder(copy) as embedder:
        assert embedder.model_id == model_identity(copy)


def test_missing_file_is_an_embedding_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="missing"):
        TextEmbedder(tmp_path / "nowhere.gguf")


def test_not_a_gguf_is_an_embedding_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"<html>404</html>" * 100)
    with pytest.raises(EmbeddingError, match="not a GGUF"):
        TextEmbedder(junk)


def test_truncated_gguf_is_an_embedding_error(tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(gguf("embed_bert").read_bytes()[:50_000])
    with pytest.raises(EmbeddingError, match="could not be loaded"):
        TextEmbedder(cut)


def test_a_caption_model_is_not_an_embedder() -> None:
    with pytest.raises(EmbeddingError, match="not a text-embedding model"):
        TextEmbedder(FIXTURES / "smolvlm" / "model.gguf")


def test_closed_embedder_says_so() -> None:
    embedder = TextEmbedder(gguf("embed_bert"))
    embedder.close()
    embedder.close()  # twice is harmless
    with pytest.raises(EmbeddingError, match="closed"):
        embedder.embed_query("dog")
