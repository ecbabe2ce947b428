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


# Pieces that close a JSON string, array or object and go on: a token like this can be
# accepted by the grammar part-way (the answer ends inside it), the kind of token that
# made llama.cpp abort ("Unexpected empty grammar stack after accepting piece").
# SentencePiece spells a space "▁".
JSON_END_PIECES = (
    '"}', '"}\n', '"}\n\n', '"]}', '"]}\n', '"},', '"}]', '"}]}', '}\n', '}\n\n', '}▁',
    '"}▁', '"▁}', '"\n}', ']}\n{"', '"}{"', '"}}', '"]]', '"},▁{"', '"],▁"', '",▁"',
    '":▁"', '":"', '\\"}', '\\', '\\u00', '"}x', '"}.', '.}', '"]}"', '}"', '}]', '"▁]',
    '"]}\\n', '"\t}', '\r\n}', '"}\r\n', '"],"language":"', '"}▁\n', '▁"}',
)  # fmt: skip
_ATOMS = ('"', "}", "]", ",", "\n", "▁", ":", "{", "[", "\\", "a", ".", "\t")


def _json_end_spellings(rng: np.random.Generator, count: int, taken: set[str]) -> list[str]:
    spellings = [p for p in JSON_END_PIECES if p not in taken]
    while len(spellings) < count:
        tail = "".join(rng.choice(_ATOMS, int(rng.integers(1, 6))))
        piece = '"' + tail if rng.random() < 0.7 else tail
        if any(c in piece for c in "}]") and piece not in taken and piece not in spellings:
            spellings.append(piece)
    return spellings[:count]


def respell_vocab(source: Path, target: Path, seed: int, count: int = 48) -> Path:
    """Another tokenizer without torch: `count` ordinary pieces of the GGUF's vocabulary
    (SentencePiece, not special, not single characters) get new spellings that run over
    the end of a JSON answer. Ids, scores, types and weights stay; prompts tokenize a
    little differently (the old spellings are gone), and the model can now emit pieces
    such as '"]}\\n' that end the answer and carry on."""
    from gguf import GGUFReader, GGUFValueType, GGUFWriter, Keys

    reader = GGUFReader(source)
    tokens: list[str] = list(reader.get_field(Keys.Tokenizer.LIST).contents())  # type: ignore[union-attr]
    types = list(reader.get_field(Keys.Tokenizer.TOKEN_TYPE).contents())  # type: ignore[union-attr]
    normal = 1  # llama.cpp's LLAMA_TOKEN_TYPE_NORMAL
    choices = [i for i, (t, k) in enumerate(zip(tokens, types, strict=True)) if k == normal]
    choices = [i for i in choices if len(tokens[i]) >= 2]
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(choices, size=min(count, len(choices)), replace=False).tolist())
    for index, spelling in zip(
        picked, _json_end_spellings(rng, len(picked), set(tokens)), strict=True
    ):
        tokens[index] = spelling
    arch = reader.get_field(Keys.General.ARCHITECTURE).contents()  # type: ignore[union-attr]
    writer = GGUFWriter(target, arch=str(arch), endianess=reader.endianess)
    for field in reader.fields.values():
        if field.name == Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        value = tokens if field.name == Keys.Tokenizer.LIST else field.contents()
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
    for t in reader.tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in reader.tensors:
        writer.write_tensor_data(t.data, tensor_endianess=reader.endianess)
    writer.close()
    return target
