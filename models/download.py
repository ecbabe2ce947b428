"""Download a catalog model's files into `<models_dir>/<id>/`.

A caption model is a GGUF + mmproj pair, a text-embedding model one GGUF; both go through
here (what an entry needs is `models.wanted`'s protocol).

The entry point for the GUI and the CLI. One call: ask the hub for the repo listing, pick the
files, then fetch them (resumable, cancellable, sha256-verified) and only then mark the
model installed. Every failure a user can hit (offline, 404, gated repo, full disk, corrupt
bytes) arrives as a `DownloadError` with a readable message; a cancel as `DownloadCancelled`.
`models_dir` is passed in (the app's `DataDir.models`): this layer never imports `app`.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import overload

import filelock
from huggingface_hub import hf_hub_url

from models.catalog import CatalogEntry
from models.embedding_catalog import EmbeddingEntry
from models.errors import DownloadCancelled, DownloadError
from models.hub import (
    RemoteFile,
    checksum_from_etag,
    explain,
    explained_failures,
    fetch_listing,
    pick_files,
)
from models.installed import (
    PARTIAL_DIR,
    InstalledEmbedding,
    InstalledModel,
    installed_embedding_models,
    installed_models,
    lock,
    model_dir,
    read_installed,
    read_installed_embedding,
    remove_model,
    write_manifest,
)
from models.transfer import DownloadProgress, ProgressMeter, fetch_file

__all__ = [
    "ENDPOINT_ENV",
    "DownloadCancelled",
    "DownloadError",
    "DownloadProgress",
    "InstalledEmbedding",
    "InstalledModel",
    "download_model",
    "installed_embedding_models",
    "installed_models",
    "read_installed",
    "read_installed_embedding",
    "remove_model",
]

# Points downloads at another Hub-compatible server (a mirror, or a test's stand-in server).
# HF_ENDPOINT works too, but huggingface_hub reads it once, at import time.
ENDPOINT_ENV = "CAPTIONIST_HF_ENDPOINT"
DISK_MARGIN_BYTES = 64 * 1024 * 1024


@overload
def download_model(
    entry: CatalogEntry,
    models_dir: str | os.PathLike[str],
    *,
    progress: Callable[[DownloadProgress], None],
    cancel: threading.Event,
    endpoint: str | None = None,
) -> InstalledModel: ...
@overload
def download_model(
    entry: EmbeddingEntry,
    models_dir: str | os.PathLike[str],
    *,
    progress: Callable[[DownloadProgress], None],
    cancel: threading.Event,
    endpoint: str | None = None,
) -> InstalledEmbedding: ...
def download_model(
    entry: CatalogEntry | EmbeddingEntry,
    models_dir: str | os.PathLike[str],
    *,
    progress: Callable[[DownloadProgress], None],
    cancel: threading.Event,
    endpoint: str | None = None,
) -> InstalledModel | InstalledEmbedding:
    """Install `entry` (or return it at once if it already is); resumes an earlier attempt."""
    installed = _read(entry, models_dir)
    if installed is not None:
        size, count = installed.size_bytes, len(installed.paths)
        progress(DownloadProgress(size, size, 0.0, 0.0, installed.paths[-1].name, count, count))
        return installed
    endpoint = (endpoint or os.environ.get(ENDPOINT_ENV) or "").rstrip("/") or None
    directory = model_dir(entry.id, models_dir)
    try:
        with lock(directory):
            _download(entry, directory, progress, cancel, endpoint)
    except filelock.Timeout:
        raise DownloadError(
            f"{entry.name} is already being downloaded (in another window or command)."
        ) from None
    except OSError as exc:  # the models folder cannot be created or written
        raise explain(exc, repo=entry.gguf_repo, endpoint=endpoint) from exc
    installed = _read(entry, models_dir)
    if installed is None:  # only if something deleted the files in the last moment
        raise DownloadError(f"{entry.name} was downloaded but its files vanished; try again.")
    return installed


def _read(
    entry: CatalogEntry | EmbeddingEntry, models_dir: str | os.PathLike[str]
) -> InstalledModel | InstalledEmbedding | None:
    if isinstance(entry, EmbeddingEntry):
        return read_installed_embedding(entry.id, models_dir)
    return read_installed(entry.id, models_dir)


def _download(
    entry: CatalogEntry | EmbeddingEntry,
    directory: Path,
    progress: Callable[[DownloadProgress], None],
    cancel: threading.Event,
    endpoint: str | None,
) -> None:
    if cancel.is_set():
        raise DownloadCancelled("Download cancelled.")
    listing = fetch_listing(entry.gguf_repo, entry.revision, endpoint)
    files = pick_files(entry, listing)
    checksums = tuple(
        remote.sha256 or checksum_from_etag(listing.repo, listing.commit, remote, endpoint)
        for remote in files
    )
    partial_dir = directory / PARTIAL_DIR
    partial_dir.mkdir(parents=True, exist_ok=True)
    # Named by content: a part is only ever resumed with the bytes of the same file.
    parts = [partial_dir / f"{checksum}.part" for checksum in checksums]
    _check_disk_space(entry.name, directory, files, parts)
    meter = ProgressMeter(sum(remote.size for remote in files), progress, len(files))
    for index, (remote, checksum, part) in enumerate(zip(files, checksums, parts, strict=True), 1):
        if cancel.is_set():
            raise DownloadCancelled("Download cancelled.")
        meter.start_file(remote.local_name, index)
        url = hf_hub_url(listing.repo, remote.name, revision=listing.commit, endpoint=endpoint)
        with explained_failures(listing.repo, remote.name, endpoint):
            fetch_file(url, remote, checksum, part, meter, cancel)
    try:
        for remote, part in zip(files, parts, strict=True):
            os.replace(part, directory / remote.local_name)
        write_manifest(directory, entry, listing.commit, files, checksums)
    except OSError as exc:
        raise explain(exc, repo=listing.repo, endpoint=endpoint) from exc
    shutil.rmtree(partial_dir, ignore_errors=True)
    meter.emit(force=True)


def _check_disk_space(
    name: str, directory: Path, files: tuple[RemoteFile, ...], parts: list[Path]
) -> None:
    have = [part.stat().st_size if part.exists() else 0 for part in parts]
    needed = sum(max(remote.size - done, 0) for remote, done in zip(files, have, strict=True))
    free = shutil.disk_usage(directory).free
    if free < needed + DISK_MARGIN_BYTES:
        raise DownloadError(
            f"Not enough disk space for {name}: it needs {_mb(needed)} more and "
            f"{_mb(free)} is free in {directory}. Free some space and try again."
        )


def _mb(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.0f} MB"
