"""Random-weight variants of the tiny fixtures: the same GGUF (architecture, shapes,
tokenizer, metadata) with every weight tensor drawn again from a seed, so a fuzz run
sees many different "models" without torch, transformers or the converter.

Norm weights are drawn around 1 and everything else around 0 with the original
tensor's spread, as a freshly initialised model would be.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np


def reseed_gguf(source: Path, target: Path, seed: int) -> Path:
    from gguf import GGUFReader

    shutil.copyfile(source, target)
    reader = GGUFReader(target, "r+")
    rng = np.random.default_rng(seed)
    for tensor in reader.tensors:
        data = tensor.data
        if data.dtype not in (np.float16, np.float32) or data.size == 0:
            continue  # quantized or integer tensors stay as they are
        values = data.astype(np.float32)
        spread = float(values.std()) or 0.02
        center = 1.0 if "norm" in tensor.name else 0.0
        data[...] = (center + rng.normal(0.0, spread, data.shape)).astype(data.dtype)
    reader.data.flush()
    del reader
    return target


def reseeded_pair(model: Path, mmproj: Path, folder: Path, seed: int) -> tuple[Path, Path]:
    """Model and projector both re-drawn (different seeds for the two files)."""
    folder.mkdir(parents=True, exist_ok=True)
    return (
        reseed_gguf(model, folder / "model.gguf", seed),
        reseed_gguf(mmproj, folder / "mmproj.gguf", seed + 1_000_003),
    )
