"""The gallery with a library of 100,000 items: first screen, scrolling, memory.

Run:  QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_gallery.py [--items N]

A library database of N items (real JPEGs: hard links to 40 photos from
scikit-image, so each item is its own file path), half of them captioned, is
made directly with SQL. Then, in this process, the real MainWindow opens it:
  1. window shown: from constructing the window to its first paint;
  2. first screen of thumbnails: until every visible cell has its thumbnail, with a
     cold thumbnail cache (first launch) and a warm one (second launch);
  3. scrolling from top to bottom in steps of half a screen, letting the window
     process events for a frame (16 ms) after each step: the longest single
     GUI-thread stall (one processEvents call: paints, arriving rows and
     thumbnails) — target <= 50 ms;
  4. memory: RSS of this process before the window, with the 100k listing, and
     after scrolling through everything.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

STALL_TARGET_MS = 50.0
PHOTOS = [
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "camera",
    "cat",
    "hubble_deep_field",
    "immunohistochemistry",
    "coins",
    "page",
]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_library(data: Path, photos_dir: Path, count: int) -> None:
    """N items in one folder tree: hard links to a few real JPEGs, half captioned."""
    from PIL import Image
    from skimage import data as skdata

    from app.core.storage.db import Database

    sources = []
    for n, name in enumerate(PHOTOS * 4):
        path = photos_dir / "sources" / f"{n:02d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(getattr(skdata, name)()).convert("RGB")
        image.rotate(n * 9).save(path, quality=85)
        sources.append(path)
    db = Database(data / "library.db")
    rows, captions = [], []
    now = time.time()
    with db.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO roots (id, path, enabled, added_at, watch_state) "
            "VALUES (1, ?, 1, ?, 'off')",
            (os.fsencode(photos_dir), now),
        )
    for i in range(count):
        folder = photos_dir / f"{2000 + i // 5000}" / f"{i // 500 % 10:02d}"
        if i % 500 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        source = sources[i % len(sources)]
        path = folder / f"IMG_{i:06d}.jpg"
        os.link(source, path)
        st = path.stat()
        taken = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now - i * 3600))
        rows.append(
            (
                i + 1,
                1,
                os.fsencode(path),
                path.name,
                folder.name,
                "photo",
                st.st_size,
                st.st_mtime_ns,
                f"{st.st_size}:{i}",
                512,
                512,
                taken,
                now,
                "ok",
            )
        )
        if i % 2 == 0:
            captions.append(
                (
                    i + 1,
                    f"photo number {i} of a quiet street at dusk",
                    json.dumps(["street", "dusk"]),
                    "model",
                    now,
                )
            )
    # Through the search-index triggers, as the scanner's writes go (about a minute).
    with db.write() as conn:
        conn.connection.executemany(
            """INSERT INTO media_items (id, root_id, path, name, folder, kind, size, mtime_ns,
                fingerprint, width, height, taken_at, added_at, state)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )
        conn.connection.executemany(
            "INSERT INTO captions (item_id, text, tags, source, created_at) VALUES (?, ?, ?, ?, ?)",
            captions,
        )
    db.close()


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


def scroll_through(window: object, trace_ms: float | None = None) -> tuple[list[float], float, int]:
    """Half a screen per step, one 16 ms frame of event processing after each."""
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    bar = window.gallery.verticalScrollBar()  # type: ignore[attr-defined]
    step = max(1, bar.pageStep() // 2)
    stalls: list[float] = []
    started = time.perf_counter()
    steps = 0
    value = 0
    while value <= bar.maximum():
        bar.setValue(value)
        frame_end = time.perf_counter() + 0.016
        while True:
            t = time.perf_counter()
            if trace_ms:  # where the GUI thread is when a pass runs long
                faulthandler.dump_traceback_later(trace_ms / 1000, exit=False)
            QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents)
            if trace_ms:
                faulthandler.cancel_dump_traceback_later()
            stalls.append((time.perf_counter() - t) * 1000)
            if time.perf_counter() >= frame_end:
                break
        value += step
        steps += 1
    return stalls, time.perf_counter() - started, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument(
        "--trace-stalls",
        type=float,
        metavar="MS",
        help="print the GUI thread's stack when a pass exceeds MS",
    )
    args = parser.parse_args()
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

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
        results = []
        for launch in ("cold thumbnail cache", "warm thumbnail cache"):
            window, figures = open_window(data, app)
            listed = rss_mb()
            stalls, seconds, steps = [], 0.0, 0
            if not results:  # scroll once, with the cold cache
                stalls, seconds, steps = scroll_through(window, args.trace_stalls)
            scrolled = rss_mb()
            window.close()  # type: ignore[attr-defined]
            QApplication.processEvents()
            results.append((launch, figures, stalls, seconds, steps, listed, scrolled))
        print("\n                                      cold cache   warm cache")
        for key in ("window shown", "listing loaded", "first screen"):
            cold, warm = (r[1][key] for r in results)
            print(f"  {key + ' (s)':<36}{cold:10.3f}{warm:13.3f}")
        _launch, _f, stalls, seconds, steps, listed, scrolled = results[0]
        stalls.sort()
        worst = stalls[-1]
        print(
            f"\n[scroll] {steps:,} steps of half a screen, top to bottom, in {seconds:.1f} s "
            f"({len(stalls):,} event-loop passes)"
        )
        print(
            f"  longest GUI-thread stall  {worst:8.1f} ms   target <= {STALL_TARGET_MS:.0f} ms  "
            f"{'PASS' if worst <= STALL_TARGET_MS else 'NOT MET'}"
        )
        print(
            f"  p99 / p50 pass            {stalls[int(len(stalls) * 0.99)]:8.1f} / "
            f"{statistics.median(stalls):.2f} ms"
        )
        over = [s for s in stalls if s > STALL_TARGET_MS]
        print(
            f"  passes over {STALL_TARGET_MS:.0f} ms: {len(over)} "
            f"({', '.join(f'{s:.0f}' for s in over[-8:])} ms)"
        )
        print(
            f"  load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
            f"on {os.cpu_count()} CPUs (other processes stretch the longest stall)"
        )
        print("\n[memory] RSS of the GUI process")
        print(f"  before the window            {before:8.1f} MB")
        print(f"  window + {args.items:,} listed   {listed:8.1f} MB")
        print(f"  after scrolling through all  {scrolled:8.1f} MB")


if __name__ == "__main__":
    main()
