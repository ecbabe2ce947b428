"""Model downloads for the GUI: `models.download.download_model` on a Python thread, as signals.

One download at a time: the window, the Models settings page and the welcome flow share one
bridge, so they all show the same progress and cannot start two multi-GB transfers at once.
The download itself is resumable and checks every file (models/download.py); this class only
moves it off the GUI thread, throttles its reports to ~10 a second and turns every ending
into a signal: `finished`, `failed` with a message the user can act on, or `cancelled`.

Caption models and text-embedding models (search by meaning) download the same way; their ids
never collide (the catalogs' tests check it), so a listener tells them apart by id, and an
embedding model that finished also says so with `embedding_installed`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from models.catalog import Catalog, CatalogEntry, load_catalog
from models.download import DownloadCancelled, DownloadProgress, download_model
from models.embedding_catalog import EmbeddingCatalog, EmbeddingEntry, load_embedding_catalog
from models.errors import DownloadError, ModelError

log = logging.getLogger(__name__)
REPORT_INTERVAL_S = 0.1


class DownloadBridge(QObject):
    """Downloads catalog models into the data directory's models folder, one at a time."""

    # model_id, done_bytes, total_bytes, bytes_per_s, eta_seconds (float) or None.
    # Byte counts are 64-bit ("qlonglong"): a plain `int` signal argument is a 32-bit C int in
    # Qt and overflows past 2 GB, and catalog models reach 5.5 GB.
    progress = Signal(str, "qlonglong", "qlonglong", float, object)  # type: ignore[arg-type]  # "qlonglong": stubs take types only
    finished = Signal(str)  # model_id: installed and verified
    failed = Signal(str, str)  # model_id, a message for the user
    cancelled = Signal(str)  # model_id: stopped by `cancel()`; the next start resumes
    embedding_installed = Signal(str)  # model_id, after `finished`: a text-embedding model

    def __init__(
        self,
        models_dir: Path,
        parent: QObject | None = None,
        *,
        catalog: Catalog | None = None,
        embedding_catalog: EmbeddingCatalog | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(parent)
        self._models_dir = Path(models_dir)
        self._catalog = catalog
        self._embedding_catalog = embedding_catalog
        self._endpoint = endpoint  # None: $CAPTIONIST_HF_ENDPOINT, else huggingface.co
        self._lock = threading.Lock()
        self._model_id: str | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the GUI calls ---------------------------------------------------------------
    def start(self, model_id: str) -> bool:
        """Start (or resume) downloading `model_id`; False, with `failed`, if one is running."""
        with self._lock:
            running = self._model_id
            if running is None:
                self._model_id = model_id
                self._cancel = threading.Event()
                self._thread = threading.Thread(
                    target=self._run,
                    args=(model_id, self._cancel),
                    name=f"download-{model_id}",
                    daemon=True,  # a stuck connect must not keep the app from quitting
                )
                self._thread.start()
                return True
        self.failed.emit(
            model_id, f"{running} is downloading. Wait for it to finish or cancel it first."
        )
        return False

    def cancel(self) -> None:
        """Stop the running download at its next read; its bytes stay for a resume."""
        with self._lock:
            self._cancel.set()

    def busy(self) -> bool:
        with self._lock:
            return self._model_id is not None

    def current(self) -> str | None:
        """The model being downloaded, if any."""
        with self._lock:
            return self._model_id

    def wait(self, timeout: float = 5.0) -> bool:
        """Wait for the download thread to end (at shutdown, after `cancel()`)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # -- the download thread --------------------------------------------------------------
    def _run(self, model_id: str, cancel: threading.Event) -> None:
        ending: Callable[[], None]
        embedding = False
        try:
            catalog = self._catalog or load_catalog()
            entry: CatalogEntry | EmbeddingEntry | None = catalog.get(model_id)
            if entry is None:
                entry = (self._embedding_catalog or load_embedding_catalog()).get(model_id)
                embedding = entry is not None
            if entry is None:
                raise DownloadError(f"{model_id!r} is not a model in the catalog.")
            download_model(
                entry,
                self._models_dir,
                progress=_Throttle(model_id, self._emit_progress),
                cancel=cancel,
                endpoint=self._endpoint,
            )
        except DownloadCancelled:
            ending = lambda: self.cancelled.emit(model_id)  # noqa: E731
        except ModelError as exc:  # offline, not found, disk full, corrupt: all explained
            message = str(exc)
            ending = lambda: self.failed.emit(model_id, message)  # noqa: E731
        except Exception as exc:  # a bug: log it, and still tell the user something useful
            log.exception("download of %s failed", model_id)
            message = f"The download stopped unexpectedly ({exc.__class__.__name__}: {exc})."
            ending = lambda: self.failed.emit(model_id, message)  # noqa: E731
        else:
            ending = lambda: self._installed(model_id, embedding=embedding)  # noqa: E731
        with self._lock:
            self._model_id = None  # a handler of the ending may start the next download
        _guarded(ending)

    def _installed(self, model_id: str, *, embedding: bool) -> None:
        self.finished.emit(model_id)
        if embedding:
            self.embedding_installed.emit(model_id)

    def _emit_progress(self, model_id: str, report: DownloadProgress) -> None:
        _guarded(
            lambda: self.progress.emit(
                model_id,
                report.done_bytes,
                report.total_bytes,
                float(report.bytes_per_second),
                report.eta_seconds,
            )
        )


class _Throttle:
    """At most one report per REPORT_INTERVAL_S, but the last one (all bytes) always."""

    def __init__(self, model_id: str, forward: Callable[[str, DownloadProgress], None]) -> None:
        self._model_id = model_id
        self._forward = forward
        self._last = float("-inf")

    def __call__(self, report: DownloadProgress) -> None:
        now = time.monotonic()
        complete = report.done_bytes >= report.total_bytes
        if complete or now - self._last >= REPORT_INTERVAL_S:
            self._last = now
            self._forward(self._model_id, report)


def _guarded(emit: Callable[[], None]) -> None:
    """Emit from the download thread; the bridge may already be gone (app quitting)."""
    try:
        emit()
    except RuntimeError:  # "Internal C++ object already deleted"
        log.debug("download bridge deleted before its thread ended")
