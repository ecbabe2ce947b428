"""The gallery with a library of 100,000 items: first screen, scrolling, memory.

Run:  QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_gallery.py \
        [--items N] [--load N] [--trace-stalls MS]

A library database of N items (real JPEGs: hard links to 40 photos from
scikit-image, so each item is its own file path), half of them captioned, is
made directly with SQL. Then, in this process, the real MainWindow opens it:
  1. window shown: from constructing the window to its first paint;
  2. first screen of thumbnails: until every visible cell has its thumbnail, with a
     cold thumbnail cache (first launch) and a warm one (second launch);
  3. scrolling from top to bottom in steps of half a screen, letting the window
     process events for a frame (16 ms) after each step: the longest single
     GUI-thread stall (one processEvents call: paints, arriving rows and
     thumbnails) — target <= 50 ms — and the 99th and 95th percentiles of each
     frame's longest pass, the garbage collector's pauses, and the load average.
     The scroll runs twice, each time as a first launch (empty thumbnail cache):
     idle, then with --load N busy CPU processes alongside (default one per CPU);
  4. memory: RSS of this process before the window, with the 100k listing, and
     after scrolling through everything (target <= 400 MB), and what the
     gallery's caches hold at the end (they, not the library's size, bound it).
The suite's guard is tests/ui/test_gallery_memory.py (cache contents, not RSS).
"""

from __future__ import annotations

import argparse
import cProfile
import faulthandler
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

STALL_TARGET_MS = 50.0
RSS_TARGET_MB = 400.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_window(data: Path, app: object) -> tuple[object, dict[str, float]]:
    from PySide6.QtWidgets import QApplication

    from app.core.datadir import DataDir
    from app.ui.window.main_window import MainWindow

    figures: dict[str, float] = {}
    t0 = time.perf_counter()
    window = MainWindow(DataDir.resolve(data))
    window.no_welcome = True
    window.resize(1400, 900)
    window.show()
    QApplication.processEvents()
    figures["window shown"] = time.perf_counter() - t0
    model = window.gallery_model
    deadline = time.perf_counter() + 120
    while model.rowCount() == 0 and time.perf_counter() < deadline:
        QApplication.processEvents()
        time.sleep(0.001)
    figures["listing loaded"] = time.perf_counter() - t0
    figures["first screen"] = wait_for_thumbnails(window, deadline) - t0
    return window, figures


def wait_for_thumbnails(window: object, deadline: float) -> float:
    from PySide6.QtWidgets import QApplication

    gallery, model, thumbs = window.gallery, window.gallery_model, window.thumbnails  # type: ignore[attr-defined]
    while time.perf_counter() < deadline:
        QApplication.processEvents()
        visible = gallery.visible_ids()
        rows = [model.row_of(i) for i in visible]
        if visible and all(r is not None and thumbs.cached(r.id, r.mtime_ns) for r in rows):
            return time.perf_counter()
        time.sleep(0.002)
    return float("nan")


class GcPauses:
    """How long the cyclic garbage collector holds the GUI thread (a full collection
    walks every live object, so leaked ones make every later pause longer)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._started) * 1000)


@dataclass
class Pass:
    """One scroll from top to bottom: each step's frame and how long its passes took."""

    label: str
    frames: list[float] = field(default_factory=list)  # each frame's longest pass, ms
    passes: int = 0
    over: list[float] = field(default_factory=list)  # passes over the target, ms
    gc_pauses: list[float] = field(default_factory=list)
    # What the long passes waited for: each one's GUI-thread CPU time (the rest of its
    # wall time the thread was not running), and in the frames holding them the time
    # the thread spent runnable but waiting for a CPU (the kernel's run-queue delay).
    over_cpu: list[float] = field(default_factory=list)
    over_runqueue: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and end
    listed: float = 0.0
    scrolled: float = 0.0
    caches: str = ""

    def percentile(self, q: float) -> float:
        ordered = sorted(self.frames)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def scroll_through(window: object, result: Pass, trace_ms: float | None = None) -> None:
    """Half a screen per step, one 16 ms frame of event processing after each."""
    import gc

    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    bar = window.gallery.verticalScrollBar()  # type: ignore[attr-defined]
    step = max(1, bar.pageStep() // 2)
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    result.load = (os.getloadavg()[0], 0.0)
    started = time.perf_counter()
    value = 0
    try:
        while value <= bar.maximum():
            bar.setValue(value)
            frame_end = time.perf_counter() + 0.016
            longest = 0.0
            waited = run_queue_ms()
            long_in_frame = False
            while True:
                t = time.perf_counter()
                cpu = time.thread_time()
                if trace_ms:  # where the GUI thread is when a pass runs long
                    faulthandler.dump_traceback_later(trace_ms / 1000, exit=False)
                QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents)
                if trace_ms:
                    faulthandler.cancel_dump_traceback_later()
                took = (time.perf_counter() - t) * 1000
                result.passes += 1
                longest = max(longest, took)
                if took > STALL_TARGET_MS:
                    result.over.append(took)
                    result.over_cpu.append((time.thread_time() - cpu) * 1000)
                    long_in_frame = True
                if time.perf_counter() >= frame_end:
                    break
            result.frames.append(longest)
            if long_in_frame:
                result.over_runqueue.append(run_queue_ms() - waited)
            value += step
            result.steps += 1
    finally:
        gc.callbacks.remove(pauses)
    result.seconds = time.perf_counter() - started
    result.load = (result.load[0], os.getloadavg()[0])
    result.gc_pauses = pauses.pauses


def run_queue_ms() -> float:
    """How long this thread has been runnable but waiting for a CPU, in all (Linux)."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return float("nan")


def cache_figures(window: object) -> str:
    """What the gallery's caches hold: they, not the library's size, bound its memory."""
    thumbs, delegate = window.thumbnails, window.gallery.delegate  # type: ignore[attr-defined]
    pixmaps, pixmap_bytes, queued = thumbs.cache_size()
    scaled, scaled_bytes = delegate.scaled_cache_size()
    rows = window.gallery_model.cached_rows()  # type: ignore[attr-defined]
    return (
        f"{pixmaps} thumbnails ({pixmap_bytes / 2**20:.0f} MB), {scaled} scaled copies "
        f"({scaled_bytes / 2**20:.0f} MB), {rows:,} rows, {queued} thumbnails queued"
    )


def busy_processes(count: int) -> list[subprocess.Popen[bytes]]:
    """`count` processes spinning a CPU each: a loaded machine (another build, a training)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def scroll_pass(
    data: Path,
    app: object,
    label: str,
    load: int,
    trace_ms: float | None,
    profile: bool = False,
) -> tuple[Pass, dict[str, float]]:
    """A first launch (the thumbnail disk cache emptied) scrolled from top to bottom."""
    from PySide6.QtWidgets import QApplication

    shutil.rmtree(data / "thumbnails", ignore_errors=True)
    result = Pass(label)
    busy = busy_processes(load)
    try:
        window, figures = open_window(data, app)
        result.listed = rss_mb()
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        scroll_through(window, result, trace_ms)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        result.scrolled = rss_mb()
        result.caches = cache_figures(window)
        window.close()  # type: ignore[attr-defined]
        QApplication.processEvents()
    finally:
        for process in busy:
            process.kill()
            process.wait()
    return result, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument(
        "--load",
        type=int,
        default=os.cpu_count() or 2,
        metavar="N",
        help="scroll a second time with N busy CPU processes alongside (0: idle only; "
        "default: one per CPU)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the GUI thread (cProfile) through the idle scroll; print the top",
    )
    parser.add_argument(
        "--trace-stalls",
        type=float,
        metavar="MS",
        help="print the GUI thread's stack when a pass exceeds MS",
    )
    args = parser.parse_args()
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from tests.gallery_library import make_library

    QCoreApplication.setOrganizationName("CaptionistBench")
    QCoreApplication.setApplicationName(f"bench-{os.getpid()}")
    app = QApplication(sys.argv)
    print(
        f"Captionist gallery benchmark — Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, Qt platform {app.platformName()}, {platform.platform()}"
    )
    with tempfile.TemporaryDirectory(prefix="captionist-bench-") as tmp:
        data, photos = Path(tmp) / "data", Path(tmp) / "Photos"
        data.mkdir()
        t = time.perf_counter()
        make_library(data, photos, args.items)
        print(
            f"library: {args.items:,} photos (hard links to 40 real JPEGs), half captioned, "
            f"made in {time.perf_counter() - t:.1f} s"
        )
        before = rss_mb()
        idle, cold = scroll_pass(data, app, "idle", 0, args.trace_stalls, args.profile)
        window, warm = open_window(data, app)  # a second launch: the disk cache is warm
        window.close()  # type: ignore[attr-defined]
        QApplication.processEvents()
        passes = [idle]
        if args.load:
            loaded, _ = scroll_pass(
                data, app, f"{args.load} busy CPUs", args.load, args.trace_stalls
            )
            passes.append(loaded)
        print("\n                                      cold cache   warm cache")
        for key in ("window shown", "listing loaded", "first screen"):
            print(f"  {key + ' (s)':<36}{cold[key]:10.3f}{warm[key]:13.3f}")
        report(args.items, before, passes)


def report(items: int, before: float, passes: list[Pass]) -> None:
    def row(name: str, cells: list[str]) -> None:
        print(f"  {name:<34}" + "".join(f"{c:>22}" for c in cells))

    idle = passes[0]
    print(
        f"\n[scroll] {idle.steps:,} steps of half a screen, top to bottom, one 16 ms frame "
        f"of event processing after each; a first launch (empty thumbnail cache) each time"
    )
    row("", [p.label for p in passes])
    row("load average (1 min) start/end", [f"{p.load[0]:.2f} / {p.load[1]:.2f}" for p in passes])
    row("scroll took (s)", [f"{p.seconds:.1f}" for p in passes])
    row("longest GUI-thread stall (ms)", [f"{max(p.frames):.1f}" for p in passes])
    row(
        "p99 / p95 frame's longest (ms)",
        [f"{p.percentile(0.99):.1f} / {p.percentile(0.95):.1f}" for p in passes],
    )
    row(f"passes over {STALL_TARGET_MS:.0f} ms", [f"{len(p.over)} of {p.passes:,}" for p in passes])
    row(
        "long passes: GUI-thread CPU (ms)",
        [f"{_median(p.over_cpu):.1f} of {_median(p.over):.1f} (median)" for p in passes],
    )
    row(
        "  their frames' wait for a CPU (ms)",
        [f"{_median(p.over_runqueue):.1f} (median)" for p in passes],
    )
    row(
        "longest GC pause (ms), count",
        [f"{max(p.gc_pauses, default=0):.1f}, {len(p.gc_pauses)}" for p in passes],
    )
    row(
        f"target <= {STALL_TARGET_MS:.0f} ms",
        ["PASS" if max(p.frames) <= STALL_TARGET_MS else "NOT MET" for p in passes],
    )
    print(f"  ({os.cpu_count()} CPUs; other processes stretch the longest stall)")
    print("\n[memory] RSS of the GUI process, first (idle) pass")
    print(f"  before the window            {before:8.1f} MB")
    print(f"  window + {items:,} listed   {idle.listed:8.1f} MB")
    print(
        f"  after scrolling through all  {idle.scrolled:8.1f} MB   "
        f"target <= {RSS_TARGET_MB:.0f} MB  "
        f"{'PASS' if idle.scrolled <= RSS_TARGET_MB else 'NOT MET'}"
    )
    print(f"  growth while scrolling       {idle.scrolled - idle.listed:8.1f} MB")
    for p in passes:
        print(f"  caches after the {p.label} pass: {p.caches}")
    if len(passes) > 1:
        loaded = passes[1]
        print(
            f"  ({loaded.label} pass, a third window in the same process: listed "
            f"{loaded.listed:.1f} MB, scrolled {loaded.scrolled:.1f} MB)"
        )


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


if __name__ == "__main__":
    main()
