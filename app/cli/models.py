"""`captionist models list|download ID|remove ID`: the model catalogs from the command line.

Both kinds of model are here: captioning models (a GGUF + vision projector) and text-embedding
models for search by meaning (one GGUF); `list` has a KIND column (`kind` in --json), and
`download` / `remove` take an id of either.

`download` prints one progress line that updates in place on a terminal (a line per ~10%
when piped, so logs stay readable); Ctrl+C cancels cleanly and the next `download` of the
same model resumes. Downloads go to the Hugging Face Hub, or to the Hub-compatible server
named by $CAPTIONIST_HF_ENDPOINT (a mirror; the tests point it at a local stand-in).

Exit codes: 0 done, 1 the operation failed (message on stderr), 2 unknown model id,
130 download cancelled.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from app.core.datadir import DataDir
from models.catalog import Catalog, CatalogEntry, load_catalog
from models.download import (
    ENDPOINT_ENV,
    DownloadCancelled,
    DownloadProgress,
    download_model,
    installed_embedding_models,
    installed_models,
    remove_model,
)
from models.embedding_catalog import EmbeddingCatalog, EmbeddingEntry, load_embedding_catalog
from models.errors import ModelError
from models.hardware import Hardware, default_model, detect_hardware, fits, fits_on_cpu
from models.installed import has_partial_download

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130
PIPE_STEP = 0.1  # without a terminal, a line per 10%


def add_models_parser(
    subparsers: argparse._SubParsersAction, common_parent: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    models = subparsers.add_parser(
        "models",
        parents=[common_parent],
        help="list, download and remove captioning and search (embedding) models",
        epilog=f"Set ${ENDPOINT_ENV} to download from a Hub mirror instead of huggingface.co.",
    )
    actions = models.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common_parent], help="the catalog, * = default")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    download = actions.add_parser("download", parents=[common_parent], help="download a model")
    download.add_argument("model_id", metavar="ID")
    remove = actions.add_parser("remove", parents=[common_parent], help="delete a model's files")
    remove.add_argument("model_id", metavar="ID")
    return models


def run_models_command(args: argparse.Namespace, data_dir: DataDir) -> int:
    try:
        catalog, embedders = load_catalog(), load_embedding_catalog()
        if args.models_action == "list":
            return _list(catalog, embedders, data_dir, detect_hardware(), args.json)
        if args.models_action == "download":
            return _download(catalog, embedders, data_dir, args.model_id)
        return _remove(catalog, embedders, data_dir, args.model_id)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


@dataclass(frozen=True)
class _Listed:
    entry: CatalogEntry | EmbeddingEntry
    state: str  # "yes", "no" or "partial"
    fits: bool
    reason: str
    default: bool


def _list(
    catalog: Catalog,
    embedders: EmbeddingCatalog,
    data_dir: DataDir,
    machine: Hardware,
    as_json: bool,
) -> int:
    installed = {model.entry_id for model in installed_models(data_dir.models)}
    installed |= {model.entry_id for model in installed_embedding_models(data_dir.models)}
    default = default_model(catalog, machine)
    rows = []
    for entry in (*catalog, *embedders):
        if isinstance(entry, EmbeddingEntry):
            ok, reason = fits_on_cpu(entry.ram_gb, machine)
            is_default = entry.id == embedders.default_id
        else:
            ok, reason = fits(entry, machine)
            is_default = entry.id == default.id
        state = "yes" if entry.id in installed else "no"
        if state == "no" and has_partial_download(entry.id, data_dir.models):
            state = "partial"  # a download stopped half-way; `download` resumes it
        rows.append(_Listed(entry, state, ok, reason, is_default))
    if as_json:
        print(json.dumps([_as_json(row) for row in rows]))
        return 0
    table: list[tuple[str, ...]] = [
        ("", "ID", "KIND", "NAME", "SIZE", "RAM/VRAM", "VIDEO", "INSTALLED", "FITS")
    ]
    table += [_row(row) for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for cells in table:
        padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        print("  ".join(padded).rstrip())
    print(f"\n* default for this machine: {default.name} — {fits(default, machine)[1]}")
    print(f"* default for search by meaning: {embedders.default.name}")
    print("sizes and memory needs are approximate")
    return 0


def _row(row: _Listed) -> tuple[str, ...]:
    entry = row.entry
    mb = entry.download_mb
    if isinstance(entry, EmbeddingEntry):
        kind, memory, video = "embedding", f"{entry.ram_gb:g} GB", "-"
    else:
        kind, memory = "caption", f"{entry.ram_gb:g}/{entry.vram_gb:g} GB"
        video = "yes" if entry.video_trained else "no"
    return (
        "*" if row.default else "",
        entry.id,
        kind,
        entry.name,
        f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb} MB",
        memory,
        video,
        row.state,
        "yes" if row.fits else f"no: {row.reason}",
    )


def _as_json(row: _Listed) -> dict[str, object]:
    entry = row.entry
    common: dict[str, object] = {
        "id": entry.id,
        "kind": entry.kind,
        "name": entry.name,
        "download_mb": entry.download_mb,
        "ram_gb": entry.ram_gb,
    }
    if isinstance(entry, EmbeddingEntry):
        common |= {
            "dimension": entry.dimension,
            "multilingual": entry.multilingual,
            "languages": entry.languages,
        }
    else:
        common |= {
            "family": entry.family,
            "vram_gb": entry.vram_gb,
            "video_trained": entry.video_trained,
        }
    return common | {
        "installed": row.state == "yes",
        "partial": row.state == "partial",
        "fits": row.fits,
        "fit_reason": row.reason,
        "default": row.default,
        "license": entry.license,
    }


def _download(
    catalog: Catalog, embedders: EmbeddingCatalog, data_dir: DataDir, model_id: str
) -> int:
    entry: CatalogEntry | EmbeddingEntry | None = catalog.get(model_id) or embedders.get(model_id)
    if entry is None:
        print(f"error: unknown model {model_id!r} (see `captionist models list`)", file=sys.stderr)
        return EXIT_USAGE
    cancel = threading.Event()
    printer = ProgressPrinter(sys.stdout)
    restore_ctrl_c = _cancel_on_ctrl_c(cancel)
    try:
        installed = download_model(entry, data_dir.models, progress=printer, cancel=cancel)
    except DownloadCancelled:
        printer.end()
        print(f"cancelled; run `captionist models download {entry.id}` again to resume")
        return EXIT_CANCELLED
    except ModelError as exc:
        printer.end()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        restore_ctrl_c()
    printer.end()
    print(f"installed {entry.name} in {installed.directory}")
    return 0


def _remove(catalog: Catalog, embedders: EmbeddingCatalog, data_dir: DataDir, model_id: str) -> int:
    try:
        removed = remove_model(model_id, data_dir.models)
    except ValueError:
        removed = None
    if removed:
        print(f"removed {model_id}")
        return 0
    if model_id not in catalog and model_id not in embedders:
        print(f"error: unknown model {model_id!r} (see `captionist models list`)", file=sys.stderr)
        return EXIT_USAGE
    print(f"{model_id} is not installed", file=sys.stderr)
    return EXIT_FAILED


def _cancel_on_ctrl_c(cancel: threading.Event) -> Callable[[], None]:
    """Ctrl+C sets `cancel` (the download stops at the next read and keeps its bytes).

    Returns the function that puts the previous handler back.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals only reach the main thread
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())

    def restore() -> None:
        signal.signal(signal.SIGINT, previous)

    return restore


class ProgressPrinter:
    """Prints `DownloadProgress`: in place on a terminal, a line per 10% otherwise."""

    def __init__(self, stream: TextIO, is_tty: bool | None = None) -> None:
        self.stream = stream
        self.is_tty = stream.isatty() if is_tty is None else is_tty
        self._next_step = 0.0
        self._width = 0
        self._last = 0.0

    def __call__(self, progress: DownloadProgress) -> None:
        line = format_progress(progress)
        if self.is_tty:
            if time.monotonic() - self._last < 0.2 and progress.fraction < 1:
                return  # a terminal redraw 5 times a second is plenty
            self._last = time.monotonic()
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        elif progress.fraction >= self._next_step:
            self.stream.write(line + "\n")
            self._next_step = (int(progress.fraction / PIPE_STEP) + 1) * PIPE_STEP
        self.stream.flush()

    def end(self) -> None:
        if self.is_tty and self._width:
            self.stream.write("\n")
            self._width = 0


def format_progress(progress: DownloadProgress) -> str:
    rate = f"{_size(progress.bytes_per_second)}/s" if progress.bytes_per_second else "--"
    eta = _clock(progress.eta_seconds) if progress.eta_seconds is not None else "--:--"
    return (
        f"{_size(progress.done_bytes)} / {_size(progress.total_bytes)} "
        f"{progress.fraction:4.0%}  {rate}  ETA {eta}  "
        f"[{progress.file_index}/{progress.file_count}] {progress.file_name}"
    )


def _size(count: float) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
