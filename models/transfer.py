"""One resumable, verified, cancellable file transfer, and the progress meter around it.

Why not `hf_hub_download`: in huggingface_hub 2.4.0 it writes each attempt to a fresh
process-unique `.incomplete` file and deletes it on failure (huggingface_hub PR #4228, issue
#4196), so an interrupted multi-GB model download starts again from zero; it also reports
progress only every 10 MB. Here the bytes go to `<sha256>.part` and a later call continues it
with an HTTP Range request, hashing as it goes. Requests still go through huggingface_hub's
shared session (its proxy/offline settings and headers) and its error types.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import constants, get_session
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

from models.errors import DownloadCancelled, DownloadError
from models.hub import LIBRARY_NAME, RemoteFile

RETRY_DELAYS = (1.0, 3.0, 6.0)  # after a dropped connection, before resuming in the same call
REPORT_INTERVAL = 0.1  # at most ~10 progress reports per second
RATE_SMOOTHING = 0.3  # weight of the newest rate sample


@dataclass(frozen=True)
class DownloadProgress:
    """Where a model download stands, across both of its files."""

    done_bytes: int
    total_bytes: int
    bytes_per_second: float  # smoothed over recent samples; 0.0 until first measured
    eta_seconds: float | None  # None until a rate is known
    file_name: str
    file_index: int  # 1-based
    file_count: int

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 1.0


class ProgressMeter:
    """Turns per-chunk byte counts into throttled, smoothed `DownloadProgress` reports."""

    def __init__(
        self,
        total_bytes: int,
        report: Callable[[DownloadProgress], None],
        file_count: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_bytes = total_bytes
        self.done_bytes = 0
        self.file_name = ""
        self.file_index = 0
        self.file_count = file_count
        self._report = report
        self._clock = clock
        self._rate = 0.0
        self._last_report = float("-inf")
        self._sample_time = clock()
        self._sample_bytes = 0  # bytes moved by this meter, resumed bytes excluded
        self._moved = 0

    def start_file(self, name: str, index: int) -> None:
        self.file_name, self.file_index = name, index

    def advance(self, count: int, *, resumed: bool = False) -> None:
        """Count bytes; `resumed` bytes were on disk already and do not feed the rate."""
        self.done_bytes += count
        if not resumed:
            self._moved += count
        self.emit()

    def emit(self, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last_report < REPORT_INTERVAL:
            return
        elapsed = now - self._sample_time
        if elapsed >= REPORT_INTERVAL:
            sample = (self._moved - self._sample_bytes) / elapsed
            weight = RATE_SMOOTHING if self._rate else 1.0
            self._rate = weight * sample + (1 - weight) * self._rate
            self._sample_time, self._sample_bytes = now, self._moved
        self._last_report = now
        remaining = max(self.total_bytes - self.done_bytes, 0)
        eta = remaining / self._rate if self._rate > 0 else (0.0 if not remaining else None)
        self._report(
            DownloadProgress(
                done_bytes=self.done_bytes,
                total_bytes=self.total_bytes,
                bytes_per_second=self._rate,
                eta_seconds=eta,
                file_name=self.file_name,
                file_index=self.file_index,
                file_count=self.file_count,
            )
        )


class PartialFile:
    """`<sha256>.part`: the bytes so far, and their running hash."""

    def __init__(self, path: Path, cancel: threading.Event) -> None:
        self.path = path
        self.hasher = hashlib.sha256()
        self.size = 0
        if path.exists():
            with path.open("rb") as existing:
                while block := existing.read(1024 * 1024):
                    if cancel.is_set():
                        raise DownloadCancelled("Download cancelled.")
                    self.hasher.update(block)
                    self.size += len(block)

    def restart(self) -> None:
        self.path.write_bytes(b"")
        self.hasher, self.size = hashlib.sha256(), 0


def fetch_file(
    url: str,
    remote: RemoteFile,
    expected_sha256: str,
    part_path: Path,
    meter: ProgressMeter,
    cancel: threading.Event,
) -> None:
    """Complete `part_path` to `remote`'s bytes and check them; the caller moves it in place.

    Raises `DownloadCancelled` (the part stays for a resume), or an `HfHubHTTPError` /
    `httpx2.TransportError` / `OSError` for the caller to explain, or `DownloadError`.
    """
    partial = PartialFile(part_path, cancel)
    if partial.size > remote.size:  # not this file after all: start over
        partial.restart()
    meter.advance(partial.size, resumed=True)
    failures = 0
    while partial.size < remote.size:
        before = partial.size
        try:
            _stream_into(url, remote, partial, meter, cancel)
            if partial.size == before:  # a clean end with no bytes: retrying cannot help
                raise DownloadError(
                    f"The server stopped sending {remote.local_name} at {partial.size:,} of "
                    f"{remote.size:,} bytes. Try again later."
                )
        except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError):
            failures = 0 if partial.size > before else failures + 1
            if failures > len(RETRY_DELAYS):
                raise
            if cancel.wait(RETRY_DELAYS[max(failures - 1, 0)]):
                raise DownloadCancelled("Download cancelled.") from None
    if partial.hasher.hexdigest() != expected_sha256:
        part_path.unlink(missing_ok=True)
        raise DownloadError(
            f"{remote.local_name} failed its integrity check (sha256 mismatch), so it was "
            "deleted. Try the download again."
        )


def _stream_into(
    url: str,
    remote: RemoteFile,
    partial: PartialFile,
    meter: ProgressMeter,
    cancel: threading.Event,
) -> None:
    # Identity encoding: byte counts and Range offsets must be those of the file itself.
    headers = {**build_hf_headers(library_name=LIBRARY_NAME), "Accept-Encoding": "identity"}
    if partial.size:
        headers["Range"] = f"bytes={partial.size}-"
    timeout = httpx2.Timeout(constants.HF_HUB_DOWNLOAD_TIMEOUT, connect=10.0)
    with get_session().stream("GET", url, headers=headers, timeout=timeout) as response:
        hf_raise_for_status(response)
        if partial.size and response.status_code == 200:  # the server ignored the Range
            meter.advance(-partial.size, resumed=True)
            partial.restart()
        elif partial.size and response.status_code != 206:
            code = response.status_code
            raise DownloadError(f"The server gave an unexpected answer to a resume (HTTP {code}).")
        too_long = False
        with partial.path.open("ab") as out:
            # Whatever each socket read brings (no re-chunking): a cancel is noticed at once.
            for chunk in response.iter_bytes():
                if cancel.is_set():
                    raise DownloadCancelled("Download cancelled.")
                too_long = partial.size + len(chunk) > remote.size
                if too_long:
                    break
                out.write(chunk)
                partial.hasher.update(chunk)
                partial.size += len(chunk)
                meter.advance(len(chunk))
    if too_long:
        partial.path.unlink(missing_ok=True)
        raise DownloadError(
            f"The server sent more than the {remote.size:,} bytes of {remote.local_name}; "
            "the partial file was deleted. Try again."
        )
