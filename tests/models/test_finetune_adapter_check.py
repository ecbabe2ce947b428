"""A LoRA adapter is checked against the model before llama.cpp sees it.

llama-cpp-python 0.3.36 does not raise for a bad adapter, so every way an adapter file can
be wrong must become an AdapterError (and an EngineError from CaptionEngine) with a reason.
The adapters here are written with the `gguf` package in llama.cpp's LoRA layout, from the
real tensor table of the fixture models; a well-formed one really loads and captions.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from models.finetune.adapter_check import AdapterError, check_adapter
from models.prompts import AnswerLimits, builtin_prompts
from models.runtime import CaptionEngine, EngineConfig, EngineError, Sampling
from tests.models.conftest import fixture_pair, jpeg_of

SMOL_MODEL, SMOL_MMPROJ = fixture_pair("smolvlm")
QWEN_MODEL, _ = fixture_pair("qwen2_5_vl")
RANK = 4


def model_shapes(model: Path) -> tuple[str, dict[str, tuple[int, ...]]]:
    reader = gguf.GGUFReader(str(model))
    arch = reader.get_field("general.architecture").contents()
    return arch, {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}


def lora_tensors(model: Path, names: tuple[str, ...], rank: int = RANK) -> dict[str, np.ndarray]:
    """lora_a / lora_b for each named weight; numpy shapes are ggml's ne reversed."""
    _, shapes = model_shapes(model)
    rng = np.random.default_rng(0)
    tensors = {}
    for name in names:
        n_in, n_out = shapes[name][:2]
        tensors[f"{name}.lora_a"] = rng.normal(0, 0.02, (rank, n_in)).astype(np.float32)
        tensors[f"{name}.lora_b"] = rng.normal(0, 0.02, (n_out, rank)).astype(np.float32)
    return tensors


def write_adapter(
    path: Path,
    arch: str,
    tensors: dict[str, np.ndarray],
    *,
    kind: str = "adapter",
) -> Path:
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_string("general.type", kind)
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(RANK))
    for name, array in tensors.items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


SMOL_TARGETS = ("blk.0.attn_q.weight", "blk.0.attn_v.weight", "blk.1.attn_q.weight")


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_adapter(tmp_path / "good.gguf", "llama", lora_tensors(SMOL_MODEL, SMOL_TARGETS))


def refused(adapter: Path, match: str, model: Path = SMOL_MODEL) -> None:
    with pytest.raises(AdapterError, match=match):
        check_adapter(model, adapter)


def test_a_well_formed_adapter_passes_and_really_changes_captions(good: Path) -> None:
    check_adapter(SMOL_MODEL, good)
    sampling = Sampling(temperature=0.0, limits=AnswerLimits(caption_chars=40, max_tags=2))
    prompt, photo = builtin_prompts()["short"], jpeg_of("coffee")
    with CaptionEngine(EngineConfig(SMOL_MODEL, SMOL_MMPROJ, n_ctx=1024)) as plain:
        without = plain.caption([photo], prompt, sampling=sampling).answer
    config = EngineConfig(SMOL_MODEL, SMOL_MMPROJ, n_ctx=1024, lora_path=good, lora_scale=50.0)
    with CaptionEngine(config) as engine:
        with_adapter = engine.caption([photo], prompt, sampling=sampling).answer
    assert with_adapter != without  # llama.cpp applied it


def test_an_adapter_for_another_architecture_is_refused(tmp_path: Path) -> None:
    qwen = write_adapter(
        tmp_path / "qwen.gguf",
        "qwen2vl",
        lora_tensors(QWEN_MODEL, ("blk.0.attn_q.weight", "blk.0.attn_v.weight")),
    )
    check_adapter(QWEN_MODEL, qwen)  # fine where it belongs
    refused(qwen, r"made for another kind of model \(qwen2vl; this model is llama\)")


def test_a_tensor_the_model_lacks_or_shapes_differently_is_refused(tmp_path: Path) -> None:
    tensors = lora_tensors(SMOL_MODEL, SMOL_TARGETS)
    tensors["blk.7.attn_q.weight.lora_a"] = tensors["blk.0.attn_q.weight.lora_a"]
    tensors["blk.7.attn_q.weight.lora_b"] = tensors["blk.0.attn_q.weight.lora_b"]
    refused(write_adapter(tmp_path / "deeper.gguf", "llama", tensors), "has no blk.7.attn_q")

    tensors = lora_tensors(SMOL_MODEL, SMOL_TARGETS)
    # attn_v maps 64 -> 32 here (2 KV heads of 16); an adapter from a model with 4 KV heads:
    tensors["blk.0.attn_v.weight.lora_b"] = np.zeros((64, RANK), np.float32)
    refused(
        write_adapter(tmp_path / "wider.gguf", "llama", tensors),
        r"blk\.0\.attn_v\.weight is 64x32 here, the adapter expects 64x64",
    )


def test_broken_pairs_and_foreign_tensors_are_refused(tmp_path: Path) -> None:
    tensors = lora_tensors(SMOL_MODEL, SMOL_TARGETS)
    del tensors["blk.1.attn_q.weight.lora_b"]
    refused(write_adapter(tmp_path / "half.gguf", "llama", tensors), "incomplete")
    tensors = lora_tensors(SMOL_MODEL, SMOL_TARGETS)
    tensors["blk.0.attn_q.weight.lora_b"] = np.zeros((64, RANK + 2), np.float32)
    refused(write_adapter(tmp_path / "ranks.gguf", "llama", tensors), "mismatched halves")
    tensors = {**lora_tensors(SMOL_MODEL, SMOL_TARGETS), "token_embd.weight": np.zeros((4, 4))}
    refused(write_adapter(tmp_path / "extra.gguf", "llama", tensors), "not LoRA: token_embd")
    refused(write_adapter(tmp_path / "empty.gguf", "llama", {}), "holds no tensors")


def test_files_that_are_not_lora_adapters_are_refused(tmp_path: Path, good: Path) -> None:
    refused(SMOL_MODEL, r"model\.gguf is not a LoRA adapter \(it is a model file\)")
    refused(SMOL_MMPROJ, r"not a LoRA adapter \(it is a vision projector file\)")
    data = good.read_bytes()
    for size in (3, 100, len(data) // 2, len(data) - 1):
        cut = tmp_path / f"cut-{size}.gguf"
        cut.write_bytes(data[:size])
        refused(cut, "truncated|not a GGUF")
    junk = tmp_path / "notes.gguf"
    junk.write_text("not an adapter at all\n" * 20)
    refused(junk, "not a GGUF file")
    refused(tmp_path / "gone.gguf", "the LoRA adapter file is missing")


def test_the_engine_refuses_a_bad_adapter_with_the_same_reason(tmp_path: Path) -> None:
    qwen = write_adapter(
        tmp_path / "qwen.gguf", "qwen2vl", lora_tensors(QWEN_MODEL, ("blk.0.attn_q.weight",))
    )
    for adapter, reason in ((qwen, "another kind of model"), (SMOL_MMPROJ, "not a LoRA")):
        config = EngineConfig(SMOL_MODEL, SMOL_MMPROJ, lora_path=adapter)
        with pytest.raises(EngineError, match=reason):
            CaptionEngine(config)
