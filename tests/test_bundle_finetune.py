"""The double-click app fine-tunes: build the bundle (cached: tests/bundle_support.py),
install its training runtime from the bundle's command line (uv shipped inside it, from the
package sources this machine reaches), run a real tiny fine-tune from the bundle's CLI to an
activated adapter, and caption with the bundle's worker with and without it: llama.cpp's
greedy captions differ.

Slow (minutes the first time: PyInstaller; ~1 min runtime install from a warm uv cache;
~1 min training): marked `bundle`. CI runs it (.ci/run sets CAPTIONIST_REQUIRE_BUNDLE=1, so
a missing PyInstaller fails instead of skipping).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from app.core.datadir import DataDir
from tests.bundle_support import EXE, cached_bundle, runtime_sources_env
from tests.finetune_fixtures import (
    BASE_WEIGHTS,
    CORRECTIONS,
    TRAIN_ARGS,
    corrected_library,
    events_of,
    install_fixture_model,
)

pytestmark = [pytest.mark.bundle, pytest.mark.slow, pytest.mark.timeout(3600)]
REQUIRED = os.environ.get("CAPTIONIST_REQUIRE_BUNDLE") == "1"


def run(
    argv: list[str], env: dict[str, str], timeout: float = 1200
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_the_bundle_installs_its_training_runtime_and_fine_tunes(tmp_path: Path) -> None:
    missing = [m for m in ("PyInstaller", "uv") if importlib.util.find_spec(m) is None]
    if missing:
        message = f"the packaging extra is not installed ({', '.join(missing)})"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    bundle, built_s = cached_bundle()
    cli = [str(bundle / f"captionist-cli{EXE}")]
    data_dir = DataDir.resolve(tmp_path / "data")
    install_fixture_model(data_dir)
    corrected_library(data_dir, tmp_path / "photos")
    env = runtime_sources_env({**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    env.pop("PYTHONPATH", None)  # nothing of this checkout may leak into the bundle's children
    data = ["--data-dir", str(data_dir.root)]

    refused = run([*cli, *data, "finetune", "--json"], env)
    assert refused.returncode == 1
    (error,) = [e for e in events_of(refused.stdout) if e["event"] == "error"]
    assert "needs the training components: install them" in error["message"]

    started = time.perf_counter()
    installed = run([*cli, *data, "finetune-runtime", "install", "--json"], env)
    install_s = time.perf_counter() - started
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    done = events_of(installed.stdout)[-1]
    assert done["event"] == "done" and done["size_bytes"] > 100e6
    status = json.loads(run([*cli, *data, "finetune-runtime", "status", "--json"], env).stdout)
    assert status["ready"] and status["packaged"] and status["torch_variant"] == "cpu"

    started = time.perf_counter()
    tuned = run([*cli, *data, "finetune", "--json", "--base-weights", str(BASE_WEIGHTS),
                 *TRAIN_ARGS], env)  # fmt: skip
    tune_s = time.perf_counter() - started
    assert tuned.returncode == 0, tuned.stdout[-3000:] + tuned.stderr[-3000:]
    events = events_of(tuned.stdout)
    assert [e["event"] for e in events if e["event"] in ("registered", "activated")] == [
        "registered",
        "activated",
    ]

    photos = [str(tmp_path / "photos" / f"{name}.jpg") for name in CORRECTIONS]
    with_adapter = captions(cli, data, photos, env)
    off = run([*cli, *data, "adapters", "deactivate"], env)
    assert off.returncode == 0, off.stderr
    plain = captions(cli, data, photos, env)
    assert with_adapter != plain  # the adapter is applied by the bundle's llama.cpp

    freed = run([*cli, *data, "finetune-runtime", "remove", "--json"], env)
    assert freed.returncode == 0 and events_of(freed.stdout)[-1]["freed"] > 100e6
    assert not (data_dir.root / "runtime").exists()
    build = f"built in {built_s:.0f} s" if built_s else "from the cache"
    print(f"\nbundle {build}; runtime install {install_s:.0f} s, "
          f"{done['size_bytes'] / 1e9:.2f} GB; fine-tune {tune_s:.0f} s")  # fmt: skip


def captions(cli: list[str], data: list[str], photos: list[str], env: dict[str, str]) -> list[str]:
    made = run([*cli, *data, "caption", *photos, "--json"], env)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    return [r["caption"] for r in json.loads(made.stdout)]
