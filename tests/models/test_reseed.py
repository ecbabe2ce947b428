"""The fuzz's model variants (tests.models.reseed): weights drawn again, vocabularies
respelled; both stay valid GGUF files that llama.cpp loads with their projector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader

from models.gguf_pair import check_pair
from tests.models.conftest import fixture_pair
from tests.models.reseed import JSON_END_PIECES, reseed_gguf, respell_vocab


def _tokens(path: Path) -> tuple[list[str], list[int], list[float]]:
    reader = GGUFReader(path)
    fields = [reader.get_field(f"tokenizer.ggml.{k}") for k in ("tokens", "token_type", "scores")]
    tokens, types, scores = (list(f.contents()) for f in fields if f is not None)
    return tokens, types, scores


@pytest.mark.parametrize("name", ["gemma3", "internvl3"])
def test_respelled_vocabulary_keeps_ids_types_weights_and_special_tokens(
    name: str, tmp_path: Path
) -> None:
    model, mmproj = fixture_pair(name)
    respelled = respell_vocab(model, tmp_path / "model.gguf", seed=3, count=48)
    before, after = _tokens(model), _tokens(respelled)
    assert len(after[0]) == len(before[0]) and after[1:] == before[1:]  # types, scores
    changed = [i for i, (a, b) in enumerate(zip(before[0], after[0], strict=True)) if a != b]
    assert len(changed) == 48
    assert all(before[1][i] == 1 and len(before[0][i]) >= 2 for i in changed)  # normal only
    assert len(set(after[0])) == len(after[0])  # no duplicate spelling
    assert set(JSON_END_PIECES) - set(before[0]) <= set(after[0])
    assert all(after[0][i] in JSON_END_PIECES or set(after[0][i]) & set("}]") for i in changed)
    old, new = GGUFReader(model), GGUFReader(respelled)
    for a, b in zip(old.tensors, new.tensors, strict=True):
        assert a.name == b.name and np.array_equal(a.data, b.data)
    check_pair(respelled, mmproj)
    # same seed, same file
    again = respell_vocab(model, tmp_path / "again.gguf", seed=3, count=48)
    assert again.read_bytes() == respelled.read_bytes()


def test_reseeded_weights_differ_by_seed(tmp_path: Path) -> None:
    model, _ = fixture_pair("internvl3")
    one = reseed_gguf(model, tmp_path / "one.gguf", 1)
    two = reseed_gguf(model, tmp_path / "two.gguf", 2)
    assert one.read_bytes() != two.read_bytes() != model.read_bytes()
    assert _tokens(one) == _tokens(model)
