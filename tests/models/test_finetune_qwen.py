"""The same real training on the tiny Qwen2.5-VL fixture (M-RoPE, windowed ViT, merger),
its adapter refused by the SmolVLM model, and vision-tower LoRA refused at export."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.finetune import evaluate, train
from models.finetune.adapter_check import AdapterError, check_adapter
from models.finetune.export import ExportError, export_adapter, gguf_modules
from models.finetune.llama_tools import ensure_tools
from models.runtime import CaptionEngine, EngineConfig, EngineError
from tests.models.conftest import FIXTURES, fixture_pair
from tests.models.finetune_data import CAPTIONS
from tests.models.finetune_training import SHORT_GREEDY, Trained, train_and_export

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return train_and_export("qwen2_5_vl", tmp_path_factory.mktemp("qwen"))


def test_llama_cpp_with_the_adapter_says_the_corrected_captions(trained: Trained) -> None:
    assert not [n for n in trained.matched if n.startswith("model.visual.")]
    assert len(gguf_modules(trained.adapter)) == len(trained.matched) == 14
    never = lambda: False  # noqa: E731
    with evaluate.open_with_adapter(trained.spec, trained.adapter) as engine:
        after = evaluate.evaluate(engine, trained.spec.examples, never, SHORT_GREEDY)
    with CaptionEngine(evaluate.engine_config(trained.spec, None)) as engine:
        before = evaluate.evaluate(engine, trained.spec.examples, never, SHORT_GREEDY)
    assert {s["id"]: s["candidate"] for s in after.samples} == CAPTIONS
    assert not [s for s in before.samples if s["candidate"] == s["reference"]]
    assert after.metrics["cider"] > before.metrics["cider"] + 5


def test_a_qwen_adapter_is_refused_by_the_smolvlm_model(trained: Trained, tmp_path: Path) -> None:
    smol_model, smol_mmproj = fixture_pair("smolvlm")
    with pytest.raises(AdapterError, match=r"another kind of model \(qwen2vl; this model is llama"):
        check_adapter(smol_model, trained.adapter)
    with pytest.raises(EngineError, match="another kind of model"):
        CaptionEngine(EngineConfig(smol_model, smol_mmproj, lora_path=trained.adapter))
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(trained.adapter.read_bytes()[: trained.adapter.stat().st_size // 2])
    with pytest.raises(AdapterError, match="truncated"):
        check_adapter(trained.spec.base_gguf, cut)


def test_lora_on_the_vision_tower_is_not_exported_silently(tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    hf = FIXTURES / "smolvlm" / "hf"
    device, _ = train.pick_device("lora")
    model = train.load_model(hf, device)
    # A bare "q_proj" target, as the seed article writes it, also catches SigLIP's layers,
    # which llama.cpp's converter drops without a word.
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(str(tmp_path / "peft"))
    with pytest.raises(ExportError, match=r"kept 4 of 8 LoRA layers"):
        export_adapter(tmp_path / "peft", hf, tmp_path / "adapter.gguf", ensure_tools())
