"""Is this GGUF LoRA adapter usable with this model? Checked before llama.cpp sees it.

llama-cpp-python 0.3.36 does not raise for a bad adapter (its NULL check is broken): a
wrong file is either ignored or brings the process down. So the caption engine calls
`check_adapter` first and turns every way an adapter can be wrong into a sentence:
not GGUF, cut off, not a LoRA adapter, made for another architecture, or a tensor the
model does not have or has in another shape (the checks llama.cpp's own loader makes).
No heavy imports: the caption worker runs this.
"""

from __future__ import annotations

import functools
from pathlib import Path

from models.gguf_info import GgufError, read_gguf_info

LORA_A, LORA_B = ".lora_a", ".lora_b"


class AdapterError(ValueError):
    """The adapter cannot be used with this model; the message says why, for the user."""


def check_adapter(model_gguf: Path, adapter_gguf: Path) -> None:
    """Raise `AdapterError` unless `adapter_gguf` is a LoRA adapter that fits `model_gguf`."""
    model_gguf, adapter_gguf = Path(model_gguf), Path(adapter_gguf)
    name = adapter_gguf.name
    if not adapter_gguf.is_file():
        raise AdapterError(f"the LoRA adapter file is missing: {adapter_gguf}")
    try:
        info = read_gguf_info(adapter_gguf)
    except GgufError as exc:
        raise AdapterError(f"the LoRA adapter {name} is unusable: {exc}") from None
    except OSError as exc:
        raise AdapterError(f"cannot read the LoRA adapter {name}: {exc}") from None
    kind = info.metadata.get("general.type")
    if kind != "adapter" or info.metadata.get("adapter.type") != "lora":
        what = "a vision projector" if info.architecture == "clip" else f"a {kind or 'model'}"
        raise AdapterError(f"{name} is not a LoRA adapter (it is {what} file)")
    model_arch = _model_architecture(model_gguf)
    if info.architecture != model_arch:
        raise AdapterError(
            f"the LoRA adapter {name} was made for another kind of model "
            f"({info.architecture}; this model is {model_arch})"
        )
    _check_tensors(name, _tensor_shapes(adapter_gguf), _model_shapes(model_gguf))


def _check_tensors(
    name: str, adapter: dict[str, tuple[int, ...]], model: dict[str, tuple[int, ...]]
) -> None:
    if not adapter:
        raise AdapterError(f"the LoRA adapter {name} holds no tensors")
    bases: dict[str, dict[str, tuple[int, ...]]] = {}
    for tensor, shape in adapter.items():
        for suffix in (LORA_A, LORA_B):
            if tensor.endswith(suffix):
                bases.setdefault(tensor[: -len(suffix)], {})[suffix] = shape
                break
        else:
            raise AdapterError(f"the LoRA adapter {name} holds a tensor that is not LoRA: {tensor}")
    for base, pair in sorted(bases.items()):
        if len(pair) != 2:
            raise AdapterError(f"the LoRA adapter {name} is incomplete: {base} lacks a half")
        if base not in model:
            raise AdapterError(
                f"the LoRA adapter {name} belongs to another model: this model has no {base}"
            )
        a, b, weight = pair[LORA_A], pair[LORA_B], model[base]
        # llama.cpp's checks (llama-adapter.cpp), in ggml's dimension order (ne).
        if len(a) != 2 or len(b) != 2 or a[1] != b[0]:
            raise AdapterError(f"the LoRA adapter {name} is damaged: {base} has mismatched halves")
        if len(weight) < 2 or weight[0] != a[0] or weight[1] != b[1]:
            raise AdapterError(
                f"the LoRA adapter {name} belongs to another model: {base} is "
                f"{weight[0]}x{weight[1]} here, the adapter expects {a[0]}x{b[1]}"
            )


def _tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except Exception as exc:  # the reader raises ValueError, struct/numpy errors
        raise AdapterError(f"{path.name} is damaged or cut off ({exc})") from None
    return {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}


def _model_architecture(path: Path) -> str | None:
    try:
        return read_gguf_info(path).architecture
    except (GgufError, OSError) as exc:
        raise AdapterError(
            f"cannot check the adapter: the model {path.name} is unusable ({exc})"
        ) from None


def _model_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    stat = path.stat()
    return _model_shapes_cached(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _model_shapes_cached(path: Path, _size: int, _mtime_ns: int) -> dict[str, tuple[int, ...]]:
    """Tensor shapes of a (multi-GB) model: read once per file version, not per check."""
    return _tensor_shapes(path)
