"""Hardware detection and the default model for different machines."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from models import hardware
from models.catalog import load_catalog
from models.hardware import Hardware, default_model, detect_hardware, fits, parse_nvidia_smi

CATALOG = load_catalog()


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        (Hardware(ram_gb=16, physical_cores=8, gpu_offload=False), "smolvlm2-500m"),
        (Hardware(ram_gb=3.8, physical_cores=2, gpu_offload=False), "smolvlm2-500m"),  # "4 GB"
        (Hardware(ram_gb=2, physical_cores=2, gpu_offload=False), "smolvlm2-256m"),
        (Hardware(ram_gb=0.5, physical_cores=1, gpu_offload=False), "smolvlm2-256m"),
        (Hardware(16, 8, True, 8.0, "RTX 3070"), "qwen2.5-vl-3b"),
        (Hardware(32, 8, True, 11.99, "RTX 4070"), "qwen2.5-vl-7b"),  # a "12 GB" card
        (Hardware(32, 16, True, 24.0, "RTX 4090"), "qwen2.5-vl-7b"),
        (Hardware(16, 8, True, 4.0, "GTX 1650"), "smolvlm2-500m"),
        # nvidia-smi sees a card, but this llama.cpp build is CPU-only:
        (Hardware(32, 8, False, 24.0, "RTX 4090"), "smolvlm2-500m"),
        # offload possible (Vulkan, ROCm) but the GPU memory is unknown: stay safe.
        (Hardware(32, 8, True, None, None), "smolvlm2-500m"),
        (Hardware(16, 8, True, 16 * 0.66, "Apple Silicon", True), "qwen2.5-vl-3b"),
        (Hardware(32, 10, True, 32 * 0.66, "Apple Silicon", True), "qwen2.5-vl-7b"),
        (Hardware(8, 8, True, 8 * 0.66, "Apple Silicon", True), "smolvlm2-500m"),
    ],
)
def test_default_model(machine: Hardware, expected: str) -> None:
    assert default_model(CATALOG, machine).id == expected


def test_default_model_with_a_catalog_lacking_the_usual_ids() -> None:
    only_big = [CATALOG.get("qwen2.5-vl-7b"), CATALOG.get("gemma-3-4b")]
    assert default_model(only_big, Hardware(8, 4, False)).id == "gemma-3-4b"


def test_fits_explains_itself() -> None:
    big = CATALOG.get("qwen2.5-vl-3b")
    small_pc = Hardware(ram_gb=2, physical_cores=2, gpu_offload=False)
    assert fits(big, small_pc) == (False, "needs ~5 GB RAM, this machine has 2 GB")
    assert fits(CATALOG.get("smolvlm2-500m"), small_pc) == (
        True,
        "runs on the CPU (needs ~1.5 GB RAM of 2 GB)",
    )
    ok, reason = fits(big, Hardware(16, 8, True, 8.0, "RTX 3070"))
    assert ok and reason == "fits the RTX 3070 (needs ~4.5 GB of 8 GB)"
    ok, reason = fits(CATALOG.get("qwen2.5-vl-7b"), Hardware(16, 8, True, 4.0, "GTX 1650"))
    assert ok and reason.startswith("too big for the GTX 1650 (4 GB); runs on the CPU, slower")


def test_nvidia_smi_output_is_parsed() -> None:
    lines = ["NVIDIA GeForce RTX 3060, 12288", "Tesla T4, 15360", "garbage", ""]
    assert parse_nvidia_smi(lines) == ("Tesla T4", 15.0)
    assert parse_nvidia_smi([]) is None


def test_detection_on_this_machine_with_a_stand_in_nvidia_smi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.name == "nt":
        pytest.skip("the stand-in nvidia-smi is a shell script")
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\necho 'NVIDIA GeForce RTX 3080, 10240'\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(hardware.sys, "platform", "linux")
    found = detect_hardware()
    assert found.ram_gb > 0.5 and found.physical_cores >= 1
    assert (found.gpu_name, found.vram_gb) == ("NVIDIA GeForce RTX 3080", 10.0)
    assert found.gpu_offload == hardware.llama_supports_gpu_offload()
    assert found.gpu_usable == found.gpu_offload  # usable only if llama.cpp can offload


def test_a_missing_llama_cpp_means_no_offload(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_llama(name: str, *args, **kwargs):
        if name == "llama_cpp":
            raise ImportError("not installed")
        return real_import(name, *args, **kwargs)

    hardware.llama_supports_gpu_offload.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_llama)
    try:
        assert hardware.llama_supports_gpu_offload() is False
    finally:
        hardware.llama_supports_gpu_offload.cache_clear()
