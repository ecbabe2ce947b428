"""Which models are installed under `<data dir>/models/<id>/`, and removing them.

A model counts as installed only once `installed.json` exists, and that file is written last,
after all its files passed their checksums and were moved into place. So a cancelled, failed or
crashed download can leave partial bytes behind (for a resume) but never a model that looks
usable and is not.

Caption models (a GGUF + mmproj pair) and text-embedding models (one GGUF) share the folder;
the manifest's "kind" tells them apart ("caption" when absent: manifests written before
embedding models existed), and each reader only returns its own kind.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import filelock

from models.catalog import ID_PATTERN, CatalogEntry
from models.errors import ModelError
from models.hub import RemoteFile
from models.spec import ModelSpec, catalog_spec
from models.wanted import Downloadable

MANIFEST = "installed.json"
PARTIAL_DIR = ".partial"
LOCK_FILE = ".lock"
FORMAT = 1
CAPTION_ROLES = {"model", "mmproj"}


@dataclass(frozen=True)
class InstalledModel:
    entry_id: str
    directory: Path
    model_path: Path
    mmproj_path: Path
    repo: str
    commit: str
    size_bytes: int

    def spec(self, entry: CatalogEntry) -> ModelSpec:
        return catalog_spec(entry, self.model_path, self.mmproj_path)

    @property
    def paths(self) -> tuple[Path, ...]:
        return self.model_path, self.mmproj_path


@dataclass(frozen=True)
class InstalledEmbedding:
    """An installed text-embedding model: one GGUF (`models.embedding.TextEmbedder` loads it)."""

    entry_id: str
    directory: Path
    model_path: Path
    repo: str
    commit: str
    size_bytes: int

    @property
    def paths(self) -> tuple[Path, ...]:
        return (self.model_path,)


@dataclass(frozen=True)
class _Manifest:
    kind: str
    directory: Path
    paths: dict[str, Path]  # by role: "model", "mmproj"
    repo: str
    commit: str
    size_bytes: int


def model_dir(entry_id: str, models_dir: str | os.PathLike[str]) -> Path:
    """`models_dir/<id>`; the id is checked so it can never point outside `models_dir`."""
    if not ID_PATTERN.match(entry_id):
        raise ValueError(f"not a model id: {entry_id!r}")
    return Path(models_dir) / entry_id


def lock(directory: Path) -> filelock.BaseFileLock:
    """One download (or removal) per model at a time, across windows and CLI processes."""
    directory.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(directory / LOCK_FILE, timeout=0)


def read_installed(entry_id: str, models_dir: str | os.PathLike[str]) -> InstalledModel | None:
    """The installed caption model `entry_id`, or None (not installed, or not a caption model)."""
    manifest = _read_manifest(entry_id, models_dir)
    if manifest is None or manifest.kind != "caption" or set(manifest.paths) != CAPTION_ROLES:
        return None
    paths = manifest.paths
    return InstalledModel(
        entry_id,
        manifest.directory,
        paths["model"],
        paths["mmproj"],
        manifest.repo,
        manifest.commit,
        manifest.size_bytes,
    )


def read_installed_embedding(
    entry_id: str, models_dir: str | os.PathLike[str]
) -> InstalledEmbedding | None:
    """The installed text-embedding model `entry_id`, or None."""
    manifest = _read_manifest(entry_id, models_dir)
    if manifest is None or manifest.kind != "embedding" or set(manifest.paths) != {"model"}:
        return None
    return InstalledEmbedding(
        entry_id,
        manifest.directory,
        manifest.paths["model"],
        manifest.repo,
        manifest.commit,
        manifest.size_bytes,
    )


def _read_manifest(entry_id: str, models_dir: str | os.PathLike[str]) -> _Manifest | None:
    directory = model_dir(entry_id, models_dir)
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        files = data["files"]
        paths = {role: directory / record["name"] for role, record in files.items()}
        for role, path in paths.items():
            if path.parent != directory or path.stat().st_size != files[role]["size"]:
                return None
        if data["format"] != FORMAT or not paths:
            return None
        size = sum(int(record["size"]) for record in files.values())
        kind = data.get("kind", "caption")
        return _Manifest(kind, directory, paths, data["repo"], data["commit"], size)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # no manifest, a damaged one, or a file gone: not installed


def has_partial_download(entry_id: str, models_dir: str | os.PathLike[str]) -> bool:
    """Bytes of a stopped download are waiting; downloading again resumes from them."""
    return any((model_dir(entry_id, models_dir) / PARTIAL_DIR).glob("*.part"))


def installed_models(models_dir: str | os.PathLike[str]) -> list[InstalledModel]:
    """The installed caption models (embedding models are `installed_embedding_models`)."""
    found = (read_installed(entry_id, models_dir) for entry_id in _model_ids(models_dir))
    return [model for model in found if model is not None]


def installed_embedding_models(models_dir: str | os.PathLike[str]) -> list[InstalledEmbedding]:
    found = (read_installed_embedding(entry_id, models_dir) for entry_id in _model_ids(models_dir))
    return [model for model in found if model is not None]


def _model_ids(models_dir: str | os.PathLike[str]) -> list[str]:
    root = Path(models_dir)
    if not root.is_dir():
        return []
    return [
        child.name
        for child in sorted(root.iterdir())
        if child.is_dir() and ID_PATTERN.match(child.name)
    ]


def write_manifest(
    directory: Path,
    entry: Downloadable,
    commit: str,
    files: tuple[RemoteFile, ...],
    checksums: tuple[str, ...],
) -> None:
    roles = [wanted.role for wanted in entry.wanted_files()]
    record = {
        "format": FORMAT,
        "kind": entry.kind,
        "id": entry.id,
        "repo": entry.gguf_repo,
        "commit": commit,
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {
            role: _file_record(remote, checksum)
            for role, remote, checksum in zip(roles, files, checksums, strict=True)
        },
    }
    temporary = directory / f"{MANIFEST}.tmp"
    temporary.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(temporary, directory / MANIFEST)


def _file_record(remote: RemoteFile, checksum: str) -> dict[str, object]:
    return {
        "name": remote.local_name,
        "repo_path": remote.name,
        "size": remote.size,
        "sha256": checksum,
    }


def remove_model(entry_id: str, models_dir: str | os.PathLike[str]) -> bool:
    """Delete the model's folder (files, partial downloads). False if there was nothing."""
    directory = model_dir(entry_id, models_dir)
    if not directory.exists():
        return False
    try:
        with lock(directory):
            # The manifest goes first: an interrupted removal then leaves no "installed" model.
            (directory / MANIFEST).unlink(missing_ok=True)
            for child in directory.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                elif child.name != LOCK_FILE:
                    child.unlink()
    except filelock.Timeout:
        raise ModelError(f"{entry_id} is being downloaded; cancel the download first.") from None
    shutil.rmtree(directory, ignore_errors=True)
    return True
