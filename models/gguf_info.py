"""A small reader for GGUF headers, enough to tell a usable file from a broken one.

Why not the `gguf` package: it pulls in numpy and is not a dependency of the app. Checking a
user's own model pair needs only the metadata keys (is it a language model or a `clip`
projector?) and whether the file is as long as its tensor table says (a cut-off download
fails here, with a clear message, instead of inside llama.cpp's loader). Array values such as
the tokenizer vocabulary are skipped, not read.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
_MAX_COUNT = 10_000_000  # more keys/tensors/array items than any real model: a corrupt header

# GGUF metadata value types -> struct format of the scalar.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
            11: "<q", 12: "<d"}  # fmt: skip
_STRING, _ARRAY = 8, 9

# ggml tensor type -> (bytes per block, elements per block); values checked against
# ggml_type_size / ggml_blck_size of the ggml in llama-cpp-python 0.3.36. Unknown (newer)
# types only skip the exact length check.
_TENSOR_TYPES = {0: (4, 1), 1: (2, 1), 2: (18, 32), 3: (20, 32), 6: (22, 32), 7: (24, 32),
                 8: (34, 32), 9: (36, 32), 10: (84, 256), 11: (110, 256), 12: (144, 256),
                 13: (176, 256), 14: (210, 256), 15: (292, 256), 16: (66, 256), 17: (74, 256),
                 18: (98, 256), 19: (50, 256), 20: (18, 32), 21: (110, 256), 22: (82, 256),
                 23: (136, 256), 24: (1, 1), 25: (2, 1), 26: (4, 1), 27: (8, 1), 28: (8, 1),
                 29: (56, 256), 30: (2, 1), 34: (54, 256), 35: (66, 256), 39: (17, 32)}  # fmt: skip


class GgufError(ValueError):
    """The file is not a readable GGUF file; the message says how it is broken."""


@dataclass(frozen=True)
class GgufInfo:
    path: Path
    version: int
    tensor_count: int
    metadata: dict[str, Any]  # scalar and string values only; arrays are skipped
    file_size: int
    expected_size: int | None  # None when a tensor type is unknown to this reader

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None


def read_gguf_info(path: str | os.PathLike[str]) -> GgufInfo:
    """Parse the header and tensor table of `path`; raise `GgufError` if it is not sound."""
    path = Path(path)
    file_size = path.stat().st_size
    with path.open("rb") as stream:
        if stream.read(4) != MAGIC:
            raise GgufError("not a GGUF file (it does not start with the GGUF signature)")
        try:
            return _read(stream, path, file_size)
        except (struct.error, UnicodeDecodeError, _Truncated):
            raise GgufError(
                f"the file is truncated or damaged ({file_size:,} bytes; the header is cut off)"
            ) from None


class _Truncated(Exception):
    pass


def _read(stream: BinaryIO, path: Path, file_size: int) -> GgufInfo:
    (version,) = _unpack(stream, "<I")
    if version not in (2, 3):
        raise GgufError(f"unsupported GGUF version {version} (expected 2 or 3)")
    tensor_count, kv_count = _unpack(stream, "<QQ")
    if tensor_count > _MAX_COUNT or kv_count > _MAX_COUNT:
        raise GgufError("the header is damaged (impossible key or tensor count)")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = _string(stream)
        (value_type,) = _unpack(stream, "<I")
        value = _value(stream, value_type)
        if value is not _SKIPPED:
            metadata[key] = value
    data_end = 0
    all_types_known = True
    for _ in range(tensor_count):
        _string(stream)
        (n_dims,) = _unpack(stream, "<I")
        if n_dims > 8:
            raise GgufError("the tensor table is damaged (impossible tensor shape)")
        dims = _unpack(stream, f"<{n_dims}Q")
        tensor_type, offset = _unpack(stream, "<IQ")
        elements = 1
        for dim in dims:
            elements *= dim
        block = _TENSOR_TYPES.get(tensor_type)
        if block is None:
            all_types_known = False
            data_end = max(data_end, offset + 1)
        else:
            data_end = max(data_end, offset + elements // block[1] * block[0])
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0:
        alignment = DEFAULT_ALIGNMENT
    data_start = -(-stream.tell() // alignment) * alignment
    needed = data_start + data_end
    if file_size < needed:
        raise GgufError(
            f"the file is truncated: {file_size:,} bytes, its tensor table needs {needed:,}"
        )
    return GgufInfo(
        path, version, tensor_count, metadata, file_size, needed if all_types_known else None
    )


_SKIPPED = object()


def _value(stream: BinaryIO, value_type: int) -> Any:
    if value_type in _SCALARS:
        return _unpack(stream, _SCALARS[value_type])[0]
    if value_type == _STRING:
        return _string(stream)
    if value_type == _ARRAY:
        item_type, count = _unpack(stream, "<IQ")
        if count > _MAX_COUNT * 10:
            raise GgufError("the header is damaged (impossible array length)")
        if item_type in _SCALARS:
            stream.seek(struct.calcsize(_SCALARS[item_type]) * count, os.SEEK_CUR)
        elif item_type == _STRING:
            for _ in range(count):
                (length,) = _unpack(stream, "<Q")
                stream.seek(length, os.SEEK_CUR)
        else:
            for _ in range(count):  # arrays of arrays: rare, but legal
                _value(stream, item_type)
        return _SKIPPED
    raise GgufError(f"the header is damaged (unknown value type {value_type})")


def _string(stream: BinaryIO) -> str:
    (length,) = _unpack(stream, "<Q")
    if length > 1 << 24:
        raise GgufError("the header is damaged (impossible string length)")
    raw = stream.read(length)
    if len(raw) != length:
        raise _Truncated
    return raw.decode("utf-8")


def _unpack(stream: BinaryIO, fmt: str) -> tuple[Any, ...]:
    size = struct.calcsize(fmt)
    raw = stream.read(size)
    if len(raw) != size:
        raise _Truncated
    return struct.unpack(fmt, raw)
