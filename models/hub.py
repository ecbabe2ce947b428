"""Talking to the Hugging Face Hub: the repo listing, choosing the pair, explaining failures.

The catalog's file names are expectations, not facts: repos get renamed files and new quants.
So the download asks the hub for the repo's listing (one `model_info` call that also gives
sizes and LFS sha256 checksums), picks the files from it, and turns every hub or network
failure into a `DownloadError` whose message a user can act on.
"""

from __future__ import annotations

import contextlib
import errno
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from models.errors import DownloadCancelled, DownloadError
from models.wanted import Downloadable, WantedFile

LIBRARY_NAME = "captionist"
LISTING_TIMEOUT = 15.0
SHA256 = re.compile(r"^[0-9a-f]{64}$")
DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


@dataclass(frozen=True)
class RemoteFile:
    name: str  # path inside the repo
    size: int
    sha256: str | None  # from the LFS metadata; None for plain git files

    @property
    def local_name(self) -> str:
        return PurePosixPath(self.name).name


@dataclass(frozen=True)
class RepoListing:
    repo: str
    commit: str  # downloads pin this commit, so both files (and a resume) match
    files: tuple[RemoteFile, ...]


def hub_host(endpoint: str | None) -> str:
    """The name users know the server by: huggingface.co, or a mirror's host[:port]."""
    return urlsplit(endpoint or constants.ENDPOINT).netloc or "huggingface.co"


def fetch_listing(repo: str, revision: str, endpoint: str | None) -> RepoListing:
    api = HfApi(endpoint=endpoint, library_name=LIBRARY_NAME)
    try:
        info = api.model_info(repo, revision=revision, files_metadata=True, timeout=LISTING_TIMEOUT)
    except Exception as exc:
        raise explain(exc, repo=repo, endpoint=endpoint) from exc
    files = tuple(
        RemoteFile(
            sibling.rfilename,
            (sibling.lfs.size if sibling.lfs else sibling.size) or 0,
            sibling.lfs.sha256.lower() if sibling.lfs else None,
        )
        for sibling in info.siblings or ()
    )
    return RepoListing(repo, info.sha or revision, files)


def pick_files(entry: Downloadable, listing: RepoListing) -> tuple[RemoteFile, ...]:
    """The files `entry` needs, in its order (a caption model: model, mmproj): the expected
    names if present, else by quantization."""
    ggufs = [f for f in listing.files if f.name.lower().endswith(".gguf")]
    projectors = [f for f in ggufs if "mmproj" in f.local_name.lower()]
    models = [f for f in ggufs if f not in projectors]
    return tuple(
        _pick(wanted, projectors if wanted.projector else models, ggufs, listing.repo)
        for wanted in entry.wanted_files()
    )


def _pick(
    wanted: WantedFile, candidates: list[RemoteFile], ggufs: list[RemoteFile], repo: str
) -> RemoteFile:
    found = _choose(candidates, wanted.expected, wanted.quantizations, wanted.take_single)
    if found is None:
        names = ", ".join(f.name for f in ggufs) or "no .gguf files at all"
        raise DownloadError(
            f"No {wanted.role} file like {wanted.expected} in repo {repo} (it has: {names}). "
            "The catalog entry needs updating."
        )
    return found


def _choose(
    candidates: list[RemoteFile], expected: str, quants: tuple[str, ...], take_single: bool = False
) -> RemoteFile | None:
    for exact in (True, False):
        for candidate in candidates:
            name = candidate.local_name
            if name == expected or (not exact and name.lower() == expected.lower()):
                return candidate
    for wanted in quants:
        pattern = re.compile(rf"(?<![a-z0-9]){re.escape(wanted)}(?![a-z0-9])", re.IGNORECASE)
        matches = sorted(
            (f for f in candidates if pattern.search(f.local_name)),
            key=lambda f: (len(f.name), f.name),
        )
        if matches:
            return matches[0]  # the plainest name: "X-Q4_K_M.gguf" over "X-Q4_K_M-imat.gguf"
    return candidates[0] if take_single and len(candidates) == 1 else None


def checksum_from_etag(repo: str, commit: str, remote: RemoteFile, endpoint: str | None) -> str:
    """When the listing has no LFS sha256, the hub's ETag for an LFS file is its sha256."""
    url = hf_hub_url(repo, remote.name, revision=commit, endpoint=endpoint)
    try:
        metadata = get_hf_file_metadata(url, timeout=LISTING_TIMEOUT, endpoint=endpoint)
    except Exception as exc:
        raise explain(exc, repo=repo, filename=remote.name, endpoint=endpoint) from exc
    etag = (metadata.etag or "").lower()
    if not SHA256.match(etag):
        raise DownloadError(
            f"The hub gives no sha256 checksum for {remote.name} in {repo}, so it cannot be "
            "verified; Captionist only installs verified model files."
        )
    return etag


@contextlib.contextmanager
def explained_failures(repo: str, filename: str, endpoint: str | None) -> Iterator[None]:
    """Around fetching one file of a download: a failure the transfer code has not
    already put in words (DownloadError, DownloadCancelled) is explained for the user,
    as resumable, since the part file keeps its bytes."""
    try:
        yield
    except (DownloadError, DownloadCancelled):
        raise
    except Exception as exc:
        raise explain(exc, repo=repo, filename=filename, endpoint=endpoint, resumable=True) from exc


def explain(
    exc: BaseException,
    *,
    repo: str,
    filename: str | None = None,
    endpoint: str | None = None,
    resumable: bool = False,
) -> DownloadError:
    """Translate a hub, network or disk failure into a message for the user.

    `resumable`: the failure hit a transfer whose bytes are kept, so trying again continues it.
    """
    error = _explain(exc, repo, filename, hub_host(endpoint))
    transient = isinstance(exc, httpx2.TransportError | OSError) or (_status(exc) or 0) >= 500
    if resumable and transient and not isinstance(exc, DownloadError):
        return DownloadError(f"{error} Downloading again resumes where it stopped.")
    return error


def _explain(exc: BaseException, repo: str, filename: str | None, host: str) -> DownloadError:
    if isinstance(exc, DownloadError):
        return exc
    if isinstance(exc, OfflineModeIsEnabled):
        return DownloadError(
            "Downloads are switched off (HF_HUB_OFFLINE is set); unset it to download models. "
            "The rest of Captionist keeps working."
        )
    if isinstance(exc, httpx2.TransportError):
        return DownloadError(
            f"Can't reach {host} — check your connection; the rest of Captionist keeps working."
        )
    if isinstance(exc, GatedRepoError) or _status(exc) in (401, 403):
        return DownloadError(
            f"{repo} on {host} needs a Hugging Face login with access to it "
            "(run `hf auth login`, then try again)."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return DownloadError(f"Model repo {repo} was not found on {host}.")
    if isinstance(exc, RevisionNotFoundError):
        return DownloadError(f"The requested revision of {repo} was not found on {host}.")
    if isinstance(exc, RemoteEntryNotFoundError) or _status(exc) == 404:
        what = f"File {filename}" if filename else "A file"
        return DownloadError(f"{what} was not found in repo {repo} on {host}.")
    if isinstance(exc, HfHubHTTPError):
        code = _status(exc)
        if code is not None and code >= 500:
            return DownloadError(
                f"{host} is having trouble (HTTP {code}); try again later. "
                "The rest of Captionist keeps working."
            )
        return DownloadError(f"The download from {host} failed (HTTP {code}).")
    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        return DownloadError(
            "The disk is full: free some space (or choose another data folder) and try again."
        )
    if isinstance(exc, OSError):
        return DownloadError(f"Can't write the model files: {exc.strerror or exc}.")
    return DownloadError(f"The download failed unexpectedly: {exc!r}.")


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)
