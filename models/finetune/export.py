"""PEFT adapter -> GGUF LoRA with llama.cpp's own `convert_lora_to_gguf.py`, run as a tool.

The converter maps each adapter tensor to llama.cpp's tensor names through the base model's
conversion class, and silently skips what it cannot map (the vision side). So after it runs
we count: every LoRA module peft trained must arrive as a lora_a/lora_b pair, or the export
fails with the names that went missing instead of shipping a weaker adapter.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.finetune.llama_tools import converter_env

log = logging.getLogger(__name__)
OUTTYPE = "f16"  # half the size of f32; LoRA deltas lose nothing that matters at f16
POLL_S = 0.2


class ExportError(RuntimeError):
    """The adapter could not be converted; the message says why."""


class ExportCancelled(Exception):
    pass


@dataclass(frozen=True)
class ExportReport:
    adapter_gguf: Path
    modules: int  # LoRA modules in the GGUF (each a lora_a + lora_b tensor)
    seconds: float


def peft_modules(peft_dir: Path) -> set[str]:
    """Names of the modules the PEFT adapter holds LoRA weights for."""
    from safetensors import safe_open

    path = peft_dir / "adapter_model.safetensors"
    if not path.is_file():
        raise ExportError(f"no adapter_model.safetensors in {peft_dir}")
    with safe_open(str(path), framework="pt") as weights:
        names = list(weights.keys())
    unexpected = [n for n in names if ".lora_A." not in n and ".lora_B." not in n]
    if unexpected:
        raise ExportError(
            "the adapter holds weights llama.cpp cannot take as LoRA: " + ", ".join(unexpected[:5])
        )
    return {n.split(".lora_")[0] for n in names}


def gguf_modules(adapter_gguf: Path) -> set[str]:
    from gguf import GGUFReader

    reader = GGUFReader(str(adapter_gguf))
    return {t.name.rsplit(".lora_", 1)[0] for t in reader.tensors if t.name.endswith(".lora_a")}


def export_adapter(
    peft_dir: Path,
    base_hf_dir: Path,
    adapter_gguf: Path,
    tools: Path,
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> ExportReport:
    """Convert `peft_dir` into `adapter_gguf`; cancellable while the converter runs."""
    started = time.perf_counter()
    # The converter runs in the output folder: every path it gets must be absolute.
    peft_dir, base_hf_dir = peft_dir.resolve(), base_hf_dir.resolve()
    adapter_gguf, tools = adapter_gguf.resolve(), tools.resolve()
    trained = peft_modules(peft_dir)
    command = [
        sys.executable,
        str(tools / "convert_lora_to_gguf.py"),
        str(peft_dir),
        "--base", str(base_hf_dir),
        "--outfile", str(adapter_gguf),
        "--outtype", OUTTYPE,
    ]  # fmt: skip
    log_path = adapter_gguf.with_suffix(".convert.log")
    with log_path.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=converter_env(tools),
            cwd=str(adapter_gguf.parent),
        )
        try:
            while process.poll() is None:
                if should_stop():
                    raise ExportCancelled()
                time.sleep(POLL_S)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    converter_log = log_path.read_text(encoding="utf-8", errors="replace")
    log_path.unlink(missing_ok=True)
    log.info("convert_lora_to_gguf output:\n%s", converter_log)
    if process.returncode != 0 or not adapter_gguf.is_file():
        raise ExportError(
            "llama.cpp's converter failed: " + (_error_line(converter_log) or "no output")
        )
    exported = gguf_modules(adapter_gguf)
    if len(exported) != len(trained):
        missing = len(trained) - len(exported)
        raise ExportError(
            f"llama.cpp's converter kept {len(exported)} of {len(trained)} LoRA layers "
            f"({missing} dropped, e.g. {sorted(trained)[:2]}); the LoRA targets must be "
            "language-model layers only"
        )
    return ExportReport(adapter_gguf, len(exported), time.perf_counter() - started)


def _error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if "error" in line.lower() or "exception" in line.lower():
            return line
    return lines[-1] if lines else ""
