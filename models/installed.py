"""Which models are installed under `<data dir>/models/<id>/`, and removing them.

A model counts as installed only once `installed.json` exists, and that file is written last,
after both files passed their checksums and were moved into place. So a cancelled, failed or
crashed download can leave partial bytes behind (for a resume) but never a model that looks
usable and is not.
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

MANIFEST = "installed.json"
PARTIAL_DIR = ".partial"
LOCK_FILE = ".lock"
FORMAT = 1


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
    directory = model_dir(entry_id, models_dir)
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        files = data["files"]
        model, mmproj = directory / files["model"]["name"], directory / files["mmproj"]["name"]
        sizes = files["model"]["size"], files["mmproj"]["size"]
        if data["format"] != FORMAT or (model.stat().st_size, mmproj.stat().st_size) != sizes:
            return None
        return InstalledModel(
            entry_id, directory, model, mmproj, data["repo"], data["commit"], sum(sizes)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no manifest, a damaged one, or a file gone: not installed


def has_partial_download(entry_id: str, models_dir: str | os.PathLike[str]) -> bool:
    """Bytes of a stopped download are waiting; downloading again resumes from them."""
    return any((model_dir(entry_id, models_dir) / PARTIAL_DIR).glob("*.part"))


def installed_models(models_dir: str | os.PathLike[str]) -> list[InstalledModel]:
    root = Path(models_dir)
    if not root.is_dir():
        return []
    found = (
        read_installed(child.name, root)
        for child in sorted(root.iterdir())
        if child.is_dir() and ID_PATTERN.match(child.name)
    )
    return [model for model in found if model is not None]


def write_manifest(
    directory: Path,
    entry: CatalogEntry,
    commit: str,
    files: tuple[RemoteFile, RemoteFile],
    checksums: tuple[str, ...],
) -> None:
    model, mmproj = files
    record = {
        "format": FORMAT,
        "id": entry.id,
        "repo": entry.gguf_repo,
        "commit": commit,
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {
            "model": _file_record(model, checksums[0]),
            "mmproj": _file_record(mmproj, checksums[1]),
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
