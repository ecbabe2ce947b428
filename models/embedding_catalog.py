"""The catalog of downloadable text-embedding models, read from `resources/embedding_catalog.json`.

Data, not code, and checked field by field at load like the caption catalog (`models.catalog`,
whose reading and typing helpers this shares). Ids share `<data dir>/models/` with the caption
models, so the two catalogs may not use the same id (tests check it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from models.catalog import (
    ID_PATTERN,
    MAY_BE_EMPTY,
    REPO_PATTERN,
    RESOURCES_DIR,
    read_catalog_file,
    typed_entries,
)
from models.embedding import EmbeddingPrompts
from models.errors import CatalogError
from models.wanted import WantedFile

EMBEDDING_CATALOG_PATH = RESOURCES_DIR / "embedding_catalog.json"
# How llama.cpp pools token vectors into one; the GGUF's metadata decides, this documents it.
POOLINGS = ("mean", "cls", "last")
_PREFIX = {MAY_BE_EMPTY: True}


@dataclass(frozen=True)
class EmbeddingEntry:
    """One downloadable text-embedding GGUF and the prompts its model card documents."""

    id: str
    name: str
    gguf_repo: str
    revision: str
    quantization: str
    model_file: str
    download_mb: int
    ram_gb: float
    dimension: int
    context_size: int
    multilingual: bool
    languages: str
    query_prefix: str = field(metadata=_PREFIX)
    document_prefix: str = field(metadata=_PREFIX)
    pooling: str
    license: str
    license_note: str = ""

    kind: ClassVar[str] = "embedding"

    @property
    def prompts(self) -> EmbeddingPrompts:
        return EmbeddingPrompts(self.query_prefix, self.document_prefix)

    def wanted_files(self) -> tuple[WantedFile, ...]:
        """One GGUF, no projector (models.wanted's protocol for the download)."""
        return (WantedFile("model", self.model_file, (self.quantization,)),)


@dataclass(frozen=True)
class EmbeddingCatalog:
    entries: tuple[EmbeddingEntry, ...]
    default_id: str
    source: Path

    def __iter__(self) -> Iterator[EmbeddingEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, entry_id: object) -> bool:
        return any(entry.id == entry_id for entry in self.entries)

    def get(self, entry_id: str) -> EmbeddingEntry | None:
        return next((entry for entry in self.entries if entry.id == entry_id), None)

    @property
    def ids(self) -> list[str]:
        return [entry.id for entry in self.entries]

    @property
    def default(self) -> EmbeddingEntry:
        entry = self.get(self.default_id)
        assert entry is not None  # load_embedding_catalog checked it
        return entry


def load_embedding_catalog(path: str | os.PathLike[str] | None = None) -> EmbeddingCatalog:
    """Read and validate the embedding catalog; `path` overrides the bundled file."""
    source = Path(path) if path is not None else EMBEDDING_CATALOG_PATH
    data = read_catalog_file(source, "embedding model catalog")
    entries = typed_entries(data, source, EmbeddingEntry)
    for entry in entries:
        _check_entry(entry, f"{source}: model {entry.id!r}")
    default_id = data.get("default_id")
    if not isinstance(default_id, str) or default_id not in {entry.id for entry in entries}:
        raise CatalogError(f'{source}: "default_id" must name one of its models')
    return EmbeddingCatalog(entries, default_id, source)


def default_embedding_model() -> EmbeddingEntry:
    """The model offered first: multilingual, small enough for any laptop."""
    return load_embedding_catalog().default


def _check_entry(entry: EmbeddingEntry, where: str) -> None:
    problems = []
    if not ID_PATTERN.match(entry.id):
        problems.append("id must be lowercase letters, digits, '.', '-' or '_'")
    if not REPO_PATTERN.match(entry.gguf_repo):
        problems.append("gguf_repo must look like owner/name")
    if not entry.model_file.endswith(".gguf") or "mmproj" in entry.model_file.lower():
        problems.append("model_file must be a .gguf that is not an mmproj")
    if entry.quantization.lower() not in entry.model_file.lower():
        problems.append("model_file must name its quantization")
    for number in ("download_mb", "ram_gb", "dimension", "context_size"):
        if getattr(entry, number) <= 0:
            problems.append(f"{number} must be positive")
    if entry.pooling not in POOLINGS:
        problems.append(f"pooling must be one of {', '.join(POOLINGS)}")
    if entry.query_prefix == entry.document_prefix != "":
        # A model that wants an instruction wants it on one side (or different ones).
        problems.append("query_prefix and document_prefix are the same")
    if problems:
        raise CatalogError(f"{where}: " + "; ".join(problems))
