"""The original (transformers) weights of the model being fine-tuned, downloaded and cached.

llama.cpp runs a GGUF, but training needs the Hugging Face checkpoint it was converted from
(the catalog's `base_weights_repo`). Only what transformers loads is fetched: the top-level
config/tokenizer/processor files and the safetensors shards, not the repo's ONNX or GGUF
extras. The transfer is the app's own (`models.transfer`): resumable `.part` files, LFS
sha256 checks, cancellable, progress at most ten times a second. A snapshot is used only
once complete (a marker file written last), and a cached one works offline.

    <cache_dir>/<owner>--<name>/snapshots/<commit>/...   the checkpoint
    <cache_dir>/<owner>--<name>/refs/<revision>          the commit "main" pointed to
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import filelock
from huggingface_hub import get_session, hf_hub_url
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

from models.errors import DownloadCancelled, DownloadError
from models.finetune.spec import BaseWeights
from models.hub import (
    LIBRARY_NAME,
    RemoteFile,
    RepoListing,
    explained_failures,
    fetch_listing,
)
from models.transfer import DownloadProgress, ProgressMeter, fetch_file

COMPLETE_MARKER = ".complete"
WANTED_SUFFIXES = (".json", ".safetensors", ".model", ".txt", ".jinja", ".tiktoken")
DISK_MARGIN_BYTES = 256 * 1024 * 1024
ENDPOINT_ENV = "CAPTIONIST_HF_ENDPOINT"  # as models.download: a mirror or a test's hub


class BaseWeightsError(RuntimeError):
    """The original weights cannot be had; the message is for the user."""


def repo_dir(cache_dir: Path, repo: str) -> Path:
    return cache_dir / repo.replace("/", "--")


def cached_snapshot(cache_dir: Path, repo: str, revision: str) -> Path | None:
    """The complete snapshot `revision` last resolved to, if any (no network)."""
    ref = repo_dir(cache_dir, repo) / "refs" / revision
    try:
        commit = ref.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    snapshot = repo_dir(cache_dir, repo) / "snapshots" / commit
    return snapshot if (snapshot / COMPLETE_MARKER).is_file() else None


def base_weights_dir(
    base: BaseWeights,
    cache_dir: Path,
    *,
    progress: Callable[[int, int | None], None],
    cancel: threading.Event,
    endpoint: str | None = None,
) -> Path:
    """A local checkpoint folder for `base`: its `local_dir`, the cache, or a download."""
    if base.local_dir is not None:
        if not (base.local_dir / "config.json").is_file():
            raise BaseWeightsError(f"{base.local_dir} is not a Hugging Face checkpoint")
        return base.local_dir
    if not base.repo:
        raise BaseWeightsError(
            "this model has no known original (Hugging Face) weights, so fine-tuning is "
            "unavailable for it"
        )
    endpoint = (endpoint or os.environ.get(ENDPOINT_ENV) or "").rstrip("/") or None
    try:
        listing = fetch_listing(base.repo, base.revision, endpoint)
    except DownloadError as exc:
        cached = cached_snapshot(cache_dir, base.repo, base.revision)
        if cached is not None:  # offline, but downloaded before
            return cached
        raise BaseWeightsError(f"cannot download the original weights: {exc}") from exc
    snapshot = repo_dir(cache_dir, base.repo) / "snapshots" / listing.commit
    if not (snapshot / COMPLETE_MARKER).is_file():
        _download(listing, snapshot, progress, cancel, endpoint)
    _write_ref(cache_dir, base.repo, base.revision, listing.commit)
    return snapshot


def _download(
    listing: RepoListing,
    snapshot: Path,
    progress: Callable[[int, int | None], None],
    cancel: threading.Event,
    endpoint: str | None,
) -> None:
    files = [f for f in listing.files if "/" not in f.name and f.name.endswith(WANTED_SUFFIXES)]
    if not any(f.name.endswith(".safetensors") for f in files):
        raise BaseWeightsError(
            f"{listing.repo} has no safetensors weights that transformers could train"
        )
    partial = snapshot.parent.parent / ".partial"
    try:
        partial.mkdir(parents=True, exist_ok=True)
        snapshot.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(partial / "download.lock"), timeout=1)
        lock.acquire()
    except filelock.Timeout:
        raise BaseWeightsError(
            f"the original weights of {listing.repo} are being downloaded by another job"
        ) from None
    except OSError as exc:
        raise BaseWeightsError(f"cannot write the weights cache: {exc}") from exc
    try:
        _check_space(files, snapshot, partial)

        def report(p: DownloadProgress) -> None:
            progress(p.done_bytes, p.total_bytes)

        meter = ProgressMeter(sum(f.size for f in files), report, len(files))
        for index, remote in enumerate(files, 1):
            if cancel.is_set():
                raise DownloadCancelled("Download cancelled.")
            target = snapshot / remote.name
            meter.start_file(remote.name, index)
            if target.is_file() and target.stat().st_size == remote.size:
                meter.advance(remote.size, resumed=True)
                continue
            url = hf_hub_url(listing.repo, remote.name, revision=listing.commit, endpoint=endpoint)
            part = partial / f"{remote.sha256 or remote.name}.part"
            with explained_failures(listing.repo, remote.name, endpoint):
                if remote.sha256:
                    fetch_file(url, remote, remote.sha256, part, meter, cancel)
                else:  # a small git file (config, tokenizer): no LFS checksum to verify
                    _fetch_small(url, part, meter, cancel)
                os.replace(part, target)
        meter.emit(force=True)
        (snapshot / COMPLETE_MARKER).write_text(listing.commit + "\n", encoding="utf-8")
    except DownloadError as exc:
        raise BaseWeightsError(f"cannot download the original weights: {exc}") from exc
    finally:
        lock.release()


def _fetch_small(url: str, part: Path, meter: ProgressMeter, cancel: threading.Event) -> None:
    headers = build_hf_headers(library_name=LIBRARY_NAME)
    with get_session().stream("GET", url, headers=headers) as response:
        hf_raise_for_status(response)
        with part.open("wb") as out:
            for chunk in response.iter_bytes():
                if cancel.is_set():
                    raise DownloadCancelled("Download cancelled.")
                out.write(chunk)
                meter.advance(len(chunk))


def _check_space(files: list[RemoteFile], snapshot: Path, partial: Path) -> None:
    needed = 0
    for remote in files:
        target = snapshot / remote.name
        part = partial / f"{remote.sha256 or remote.name}.part"
        have = target.stat().st_size if target.is_file() else 0
        have = max(have, part.stat().st_size if part.is_file() else 0)
        needed += max(remote.size - have, 0)
    free = shutil.disk_usage(snapshot).free
    if free < needed + DISK_MARGIN_BYTES:
        raise BaseWeightsError(
            f"not enough disk space for the original weights: {needed / 1e9:.1f} GB more are "
            f"needed and {free / 1e9:.1f} GB is free in {snapshot.parent}"
        )


def _write_ref(cache_dir: Path, repo: str, revision: str, commit: str) -> None:
    ref = repo_dir(cache_dir, repo) / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp = ref.with_suffix(".tmp")
    tmp.write_text(commit + "\n", encoding="utf-8")
    os.replace(tmp, ref)
