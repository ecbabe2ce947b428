"""Which text-embedding model keeps the library's caption vectors: the setting
`embedding_model` — a catalog id, a GGUF path, "off", or "" for the catalog's default
once it is installed (the app works without one: keyword search only)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

OFF = "off"


@dataclass(frozen=True)
class EmbeddingChoice:
    path: str
    label: str  # what users are told
    query_prefix: str = ""
    document_prefix: str = ""


class EmbeddingModelMissing(Exception):
    """The chosen model is not installed or its file is gone (a sentence for users)."""


def choose_embedding_model(setting: str, models_dir: Path) -> EmbeddingChoice | None:
    """The model to embed with, or None when search by meaning is off or no model is
    installed yet. A chosen model that cannot be found raises EmbeddingModelMissing."""
    setting = setting.strip()
    if setting == OFF:
        return None
    if setting.lower().endswith(".gguf") or os.sep in setting:
        path = Path(setting).expanduser()
        if not path.is_file():
            raise EmbeddingModelMissing(f"The embedding model file {path} is not there.")
        return EmbeddingChoice(str(path), path.stem)
    return _catalog_choice(setting, models_dir)


def _catalog_choice(entry_id: str, models_dir: Path) -> EmbeddingChoice | None:
    from models.embedding_catalog import load_embedding_catalog
    from models.installed import read_installed_embedding

    catalog = load_embedding_catalog()
    if not entry_id:
        installed = [e for e in catalog if read_installed_embedding(e.id, models_dir) is not None]
        default = catalog.default
        entry = default if default in installed else (installed[0] if installed else None)
        if entry is None:
            return None
    else:
        found = catalog.get(entry_id)
        if found is None:
            raise EmbeddingModelMissing(f"No embedding model {entry_id!r} in the catalog.")
        entry = found
    model = read_installed_embedding(entry.id, models_dir)
    if model is None:
        raise EmbeddingModelMissing(
            f"{entry.name} is not downloaded yet (Settings → Search, or "
            f"`captionist models download {entry.id}`)."
        )
    return EmbeddingChoice(
        str(model.model_path), entry.name, entry.query_prefix, entry.document_prefix
    )
