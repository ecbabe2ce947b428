"""What training needs and whether it may start: refusals, method choice, estimates."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from models.catalog import load_catalog
from models.finetune import install, plan, runtime
from models.finetune.plan import MIN_TRAINING_EXAMPLES, Machine, training_plan

CPU = Machine("cpu", memory_gb=16.0, cores=4)
GPU = Machine("cuda", memory_gb=12.0, cores=8, gpu_name="RTX 4070", qlora_installed=True)


def entry(model_id: str):  # type: ignore[no-untyped-def]
    found = load_catalog().get(model_id)
    assert found is not None
    return found


def make_plan(model_id: str = "smolvlm2-500m", machine: Machine = CPU, **kw):  # type: ignore[no-untyped-def]
    args = {"examples": 40, "epochs": 3, "rank": 64, "method": "auto", **kw}
    e = load_catalog().get(model_id)
    repo = args.pop("repo", e.base_weights_repo if e else None)
    return training_plan(model_id, base_weights_repo=repo, machine=machine, **args)


def test_a_small_model_trains_with_lora_on_the_cpu() -> None:
    p = make_plan()
    assert p.possible and p.refusal is None
    assert (p.method, p.device, p.precision) == ("lora", "cpu", "float32")
    assert "QLoRA needs an NVIDIA GPU" in p.method_reason
    assert 0 < p.memory_needed_gb < p.memory_available_gb
    assert p.estimated_seconds > 0


def test_a_custom_gguf_without_original_weights_is_refused() -> None:
    p = make_plan("my-own-model", repo=None)
    assert not p.possible
    assert "unavailable for my-own-model" in (p.refusal or "")
    assert "custom GGUF" in (p.refusal or "")


def test_too_few_corrections_are_refused_with_the_minimum() -> None:
    p = make_plan(examples=MIN_TRAINING_EXAMPLES - 1)
    assert not p.possible
    assert f"At least {MIN_TRAINING_EXAMPLES} corrections" in (p.refusal or "")
    assert make_plan(examples=MIN_TRAINING_EXAMPLES).possible


def test_a_missing_training_extra_is_refused_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan, "missing_packages", lambda *a: ["torch", "peft"])
    p = make_plan()
    assert not p.possible and p.missing_packages == ["torch", "peft"]
    assert "not installed (torch, peft)" in (p.refusal or "")


def test_a_packaged_app_needs_its_training_runtime(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The PyInstaller bundle has no torch: it trains in its private runtime in the data
    folder. Without it the plan says exactly what is needed; with it, training may start;
    a runtime built for another version counts as missing."""
    from app.core.datadir import DataDir
    from app.ui.finetune.data import install_command

    data_dir = DataDir.resolve(tmp_path / "data")
    assert make_plan(data_root=data_dir.root).possible
    assert install_command(data_dir)[1:3] == ["-m", "pip"]
    monkeypatch.setattr(runtime, "packaged", lambda: True)
    p = make_plan(data_root=data_dir.root)
    assert not p.possible and p.missing_packages == [plan.RUNTIME_MISSING]
    assert p.refusal == plan.runtime_refusal()
    assert "needs the training components: install them (about 1 GB" in p.refusal
    assert "internet connection is needed" in p.refusal
    assert install_command(data_dir)[-4:] == [
        "--data-dir",
        str(data_dir.root),
        "finetune-runtime",
        "install",
    ]
    ready = runtime.runtime_dir(data_dir.root)
    runtime.python_in(ready).parent.mkdir(parents=True)
    runtime.python_in(ready).write_text("", encoding="utf-8")
    (ready / runtime.MARKER).write_text(json.dumps(runtime.wanted_marker("cpu")), "utf-8")
    p = make_plan(data_root=data_dir.root)
    assert p.possible and p.missing_packages == []
    (ready / runtime.MARKER).write_text(
        json.dumps({**runtime.wanted_marker("cpu"), "app_version": "0.0.0"}), "utf-8"
    )
    assert not make_plan(data_root=data_dir.root).possible


def test_not_enough_memory_is_refused_and_bfloat16_used_when_it_fits() -> None:
    small = Machine("cpu", memory_gb=4.0, cores=2)
    p = make_plan("smolvlm2-2.2b", small)
    assert not p.possible and "needs about" in (p.refusal or "")
    assert "4.0 GB is available" in (p.refusal or "")
    middle = Machine("cpu", memory_gb=9.0, cores=2)  # float32 needs ~11 GB, bfloat16 ~6.5
    p = make_plan("smolvlm2-2.2b", middle)
    assert p.possible and p.precision == "bfloat16"
    assert "float32 would not fit" in p.method_reason
    assert p.memory_needed_gb < make_plan("smolvlm2-2.2b").memory_needed_gb


def test_qlora_is_chosen_on_an_nvidia_gpu_with_bitsandbytes() -> None:
    p = make_plan("qwen2.5-vl-3b", GPU)
    assert (p.method, p.device) == ("qlora", "cuda") and p.possible
    assert "RTX 4070" in p.method_reason and "4-bit" in p.method_reason
    without = Machine("cuda", 12.0, 8, "RTX 4070", qlora_installed=False)
    p = make_plan("qwen2.5-vl-3b", without)
    assert p.method == "lora" and "bitsandbytes is not installed" in p.method_reason
    assert make_plan("qwen2.5-vl-3b", GPU, method="lora").method == "lora"


def test_qlora_asked_for_on_a_cpu_is_refused() -> None:
    p = make_plan(method="qlora")
    assert not p.possible and "QLoRA needs an NVIDIA GPU" in (p.refusal or "")


def test_memory_estimates_match_the_documented_figures() -> None:
    # ENGINE-FACTS: LoRA, batch 1, checkpointing: 256M ~2-3 GB, 500M ~3-4 GB,
    # Qwen2.5-VL-3B ~10-12 GB (bf16 on a GPU), ~6-8 GB with QLoRA.
    assert 2.0 <= make_plan("smolvlm2-256m").memory_needed_gb <= 3.0
    assert 3.0 <= make_plan("smolvlm2-500m").memory_needed_gb <= 4.0
    big_gpu = Machine("cuda", 24.0, 8, "GPU", qlora_installed=False)
    assert 10.0 <= make_plan("qwen2.5-vl-3b", big_gpu).memory_needed_gb <= 12.0
    assert 6.0 <= make_plan("qwen2.5-vl-3b", GPU).memory_needed_gb <= 8.0


def test_time_grows_with_work_and_shrinks_on_a_gpu() -> None:
    base = make_plan().estimated_seconds
    assert make_plan(examples=80).estimated_seconds == pytest.approx(2 * base, rel=0.01)
    assert make_plan(epochs=6).estimated_seconds == pytest.approx(2 * base, rel=0.01)
    assert make_plan("smolvlm2-2.2b").estimated_seconds > 3 * base
    gpu = Machine("cuda", 12.0, 8, "GPU", qlora_installed=False)
    assert make_plan(machine=gpu).estimated_seconds < base / 10


def test_every_catalog_model_has_a_plan_on_a_big_machine() -> None:
    big = Machine("cpu", memory_gb=64.0, cores=8)
    for e in load_catalog():
        p = make_plan(e.id, big)
        assert p.possible, (e.id, p.refusal)
        assert e.params_billion > 0 and p.memory_needed_gb > e.params_billion


def test_this_machine_is_detected_without_importing_torch() -> None:
    before = set(sys.modules)
    machine = plan.detect_machine()
    assert machine.memory_gb > 0 and machine.cores >= 1
    assert not {"torch", "transformers", "peft"} & (set(sys.modules) - before)
    if "torch" in sys.modules or install.missing_packages(install.TRAINING_MODULES) == []:
        import torch

        assert plan._torch_build() == ("cuda" if torch.version.cuda else "cpu")


def test_the_install_command_targets_this_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install, "_nvidia_gpu_present", lambda: False)
    command = install.pip_install_command()
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert command[-1].endswith("[finetune]")
    if sys.platform.startswith("linux"):
        assert install.CPU_TORCH_INDEX in command
    monkeypatch.setattr(install, "_nvidia_gpu_present", lambda: True)
    command = install.pip_install_command()
    assert command[-1].endswith("[finetune,qlora]") and install.CPU_TORCH_INDEX not in command


def test_modules_the_gui_and_worker_use_import_no_training_package() -> None:
    import subprocess

    code = (
        "import sys\n"
        "import models.runtime, models.finetune.spec, models.finetune.plan\n"
        "import models.finetune.install, models.finetune.adapter_check\n"
        "import models.finetune.metrics, models.finetune.llama_tools\n"
        "from models.finetune.plan import training_plan\n"
        "training_plan('smolvlm2-256m', base_weights_repo='x/y', examples=9, epochs=1, rank=8)\n"
        "heavy = {'torch', 'transformers', 'peft', 'bitsandbytes', 'accelerate'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
