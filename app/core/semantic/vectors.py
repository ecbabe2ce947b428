"""What gets embedded for an index row, and how a vector is stored.

A vector is kept twice: as float16 (half the bytes of float32, and ample for ranking
normalised vectors by cosine) and as its packed sign bits, which is what the in-memory
index scans (Hamming distance over the sign bits tracks cosine closely; the float16
vectors of the best few hundred then decide the order).
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np
import numpy.typing as npt

from app.core.storage.embedding_rows import NewVector

Vector = npt.NDArray[np.float32]


class DocumentEmbedder(Protocol):
    """What the sync needs of an embedding model (models.embedding.TextEmbedder is one)."""

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed_documents(self, texts: list[str]) -> npt.NDArray[np.float32]: ...


def row_text(caption: str, tags: str) -> str:
    """The text of an index row that is embedded: its caption, then its tags."""
    caption, tags = caption.strip(), tags.strip()
    return f"{caption}\nTags: {tags}" if tags else caption


def text_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def normalised(vectors: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return (array / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


def sign_code(vector: npt.NDArray[np.float32]) -> bytes:
    return np.packbits(vector > 0).tobytes()


def stored(row_key: int, text: str, vector: Vector) -> NewVector:
    unit = normalised(vector)
    return NewVector(row_key, text_hash(text), unit.astype("<f2").tobytes(), sign_code(unit))


def from_blob(blob: bytes) -> Vector:
    return np.frombuffer(blob, dtype="<f2").astype(np.float32)
