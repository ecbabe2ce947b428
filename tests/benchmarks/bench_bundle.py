"""The double-click app: build it with PyInstaller, start it headless, caption with it.

Run:  .venv/bin/python tests/benchmarks/bench_bundle.py [--keep DIR] [--no-build DIST]

Needs the `packaging` extra (pip install -e '.[packaging]'). Builds packaging/captionist.spec
into a temporary folder and prints, side by side with the source install (this venv's
python running main.py) where both can do the same thing:

  build      wall time of the PyInstaller build, bundle size on disk, file count
  cli        `captionist-cli status --json` (imports, database migration, one query)
  window     the windowed `captionist caption-this PHOTO` under QT_QPA_PLATFORM=offscreen,
             until the photo is queued in its library (Qt, the window, the worker start)
  hand-over  a second `captionist caption-this PHOTO2` while the first runs: to exit 0
  2nd queued ... and until the window has queued PHOTO2 (indexing it on its pool)
  caption    `captionist-cli caption PHOTO --model-path tiny.gguf --mmproj ...`: a real
             caption by llama.cpp inside the bundle's worker process (tiny random model)
  runtime    `captionist-cli finetune-runtime install`: the private training runtime (uv,
             from the package sources this machine reaches; uv's cache in ~/.cache/uv):
             install time and size on disk
  finetune   the same real tiny fine-tune (tests/finetune_fixtures.py: the SmolVLM fixture,
             its corrections and settings) from the bundle (its runtime) and from source

Each figure is one cold-ish run (the OS file cache is warm after the first); the ratio
column is bundle / source.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.bundle_support import runtime_sources_env  # noqa: E402
from tests.finetune_fixtures import (  # noqa: E402
    BASE_WEIGHTS,
    TRAIN_ARGS,
    corrected_library,
    install_fixture_model,
)
from tests.media_factory import write_photo  # noqa: E402
from tests.models.conftest import fixture_pair  # noqa: E402

EXE = ".exe" if sys.platform == "win32" else ""


def build(dist: Path, work: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(dist), "--workpath", str(work), str(REPO / "packaging/captionist.spec")],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started


def size_of(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def timed(argv: list[str], env: dict[str, str], timeout: float = 300) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return took, done.stdout


def queued(data: Path, photo: Path) -> bool:
    database = data / "library.db"
    if not database.exists():
        return False
    try:
        with sqlite3.connect(database, timeout=1) as conn:
            row = conn.execute(
                "SELECT 1 FROM jobs j JOIN media_items m ON m.id = j.item_id WHERE m.path = ?",
                (os.fsencode(photo.resolve()),),
            ).fetchone()
    except sqlite3.Error:
        return False
    return row is not None


def window_run(
    app: list[str], data: Path, photos: list[Path], env: dict[str, str]
) -> tuple[float, float, float]:
    """Start the window with a photo: seconds until it is queued; then a second launch:
    seconds until it exits (handed over), and until the window has queued its photo."""
    started = time.perf_counter()
    window = subprocess.Popen(
        [*app, "--data-dir", str(data), "caption-this", str(photos[0])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while not queued(data, photos[0]):
            if window.poll() is not None:
                raise SystemExit(f"the window exited: {window.stderr.read()}")  # type: ignore[union-attr]
            if time.perf_counter() - started > 120:
                raise SystemExit("the window did not queue the photo within 120 s")
            time.sleep(0.05)
        opened = time.perf_counter() - started
        started = time.perf_counter()
        handed, _ = timed([*app, "--data-dir", str(data), "caption-this", str(photos[1])], env, 60)
        while not queued(data, photos[1]):  # the window queues it after saying "ok"
            if time.perf_counter() - started > 60:
                raise SystemExit("the hand-over did not queue the second photo")
            time.sleep(0.02)
        return opened, handed, time.perf_counter() - started
    finally:
        window.send_signal(signal.SIGTERM)
        try:
            window.wait(30)
        except subprocess.TimeoutExpired:
            window.kill()


def finetune_runs(
    cli: list[str], source: list[str], temp: Path, env: dict[str, str]
) -> tuple[float, int, tuple[float, float]]:
    """(runtime install seconds, its size, (bundle fine-tune s, source fine-tune s))."""
    from app.core.datadir import DataDir

    env = runtime_sources_env(env)
    seconds = {}
    install_s, size = float("nan"), 0
    for label, app in (("bundle", cli), ("source", source)):
        data_dir = DataDir.resolve(temp / f"tune-{label}")
        install_fixture_model(data_dir)
        corrected_library(data_dir, temp / f"tune-photos-{label}")
        data = ["--data-dir", str(data_dir.root)]
        if label == "bundle":
            install_s, out = timed(
                [*app, *data, "finetune-runtime", "install", "--json"], env, 3600
            )
            size = int(json.loads(out.splitlines()[-1])["size_bytes"])
        seconds[label], _ = timed(
            [*app, *data, "finetune", "--json", "--base-weights", str(BASE_WEIGHTS), *TRAIN_ARGS],
            env,
            1800,
        )
    return install_s, size, (seconds["bundle"], seconds["source"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build here and keep it")
    parser.add_argument("--no-build", type=Path, metavar="DIST", help="use a built dist/")
    args = parser.parse_args()
    temp = Path(tempfile.mkdtemp(prefix="captionist-bundle-"))
    root = args.keep or temp
    try:
        if args.no_build:
            dist, build_s = args.no_build, float("nan")
        else:
            dist = root / "dist"
            build_s = build(dist, root / "build")
        bundle = dist / "Captionist"
        size, files = size_of(bundle)
        gui = [str(bundle / f"captionist{EXE}")]
        cli = [str(bundle / f"captionist-cli{EXE}")]
        source = [sys.executable, str(REPO / "main.py")]
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        photos = [write_photo(temp / "in" / f"{n}.jpg", n) for n in ("astronaut", "rocket")]
        model, mmproj = fixture_pair("smolvlm")

        results: dict[str, dict[str, float]] = {}
        for label, (app, headless) in {"bundle": (gui, cli), "source": (source, source)}.items():
            data = temp / f"data-{label}"
            status_s, out = timed([*headless, "--data-dir", str(data), "status", "--json"], env)
            json.loads(out)
            opened_s, handed_s, queued_s = window_run(app, temp / f"window-{label}", photos, env)
            caption_s, out = timed(
                [*headless, "--data-dir", str(data), "caption", str(photos[0]),
                 "--model-path", str(model), "--mmproj", str(mmproj), "--json"], env,
            )  # fmt: skip
            (result,) = json.loads(out)
            if not result["caption"]:
                raise SystemExit(f"{label}: no caption: {result}")
            results[label] = {"cli": status_s, "window": opened_s, "hand-over": handed_s,
                              "2nd queued": queued_s, "caption": caption_s}  # fmt: skip
        install_s, size, tune = finetune_runs(cli, source, temp, env)
        results["bundle"]["finetune"], results["source"]["finetune"] = tune
        rows = [(k, results["bundle"][k], results["source"][k]) for k in results["bundle"]]

        print(f"PyInstaller bundle on {sys.platform}, Python {sys.version.split()[0]}")
        print(f"  build      {build_s:7.1f} s")
        print(f"  size       {size / 2**20:7.1f} MB in {files} files ({bundle})")
        print(f"  {'':10} {'bundle':>9} {'source':>9} {'ratio':>7}")
        for key, bundled_s, source_s in rows:
            print(f"  {key:10} {bundled_s:8.2f}s {source_s:8.2f}s {bundled_s / source_s:7.2f}")
        print(f"  runtime    install {install_s:.1f} s, {size / 1e9:.2f} GB on disk")
        return 0
    finally:
        shutil.rmtree(temp, ignore_errors=True)  # photos and libraries; --keep keeps the build


if __name__ == "__main__":
    sys.exit(main())
