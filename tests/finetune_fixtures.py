"""A library with corrections, the tiny SmolVLM installed as a catalog model, and ONE
real fine-tune of it shared by the whole test session (training, export, llama.cpp
verification and evaluation take a while even with the tiny model).

`trained_library` runs the real command, `captionist finetune --json`, on the fixture
(`tests/fixtures/models/smolvlm`: GGUF pair and the same weights as an HF checkpoint,
so nothing is downloaded). Tests that change the library work on a copy
(`copy_trained_library`); the adapter files stay where the run put them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.core.captions import CaptionStore
from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.storage.db import Database
from models.catalog import load_catalog
from tests.caption_support import store_model_caption
from tests.media_factory import REAL_PHOTOS, write_photo

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "models" / "smolvlm"
BASE_WEIGHTS = FIXTURE / "hf"
MODEL_ID = "smolvlm2-256m"  # the catalog model the fixture stands in for (same family)
FAST = {
    "max_caption_tokens": 8,
    "temperature": 0.0,
    "keyframes_per_video": 3,
    "model_image_side": 128,
}
# One correction per photo: model caption -> the user's words.
CORRECTIONS = {
    "astronaut": "a woman in a white space suit",
    "coffee": "a cup of coffee on a saucer",
    "chelsea": "a ginger cat looks up",
    "rocket": "a rocket on the launch pad",
    "cat": "a tabby cat in the grass",
}
TRAIN_ARGS = ("--epochs", "6", "--rank", "8", "--holdout", "0.2")


def install_fixture_model(
    data_dir: DataDir, model_id: str = MODEL_ID, fixture: Path = FIXTURE
) -> tuple[Path, Path]:
    """The fixture GGUF pair installed under the catalog id, as a finished download
    leaves it (files, then the manifest `models.installed` reads)."""
    entry = load_catalog().get(model_id)
    assert entry is not None
    folder = data_dir.models / model_id
    folder.mkdir(parents=True, exist_ok=True)
    model = shutil.copyfile(fixture / "model.gguf", folder / entry.model_file)
    mmproj = shutil.copyfile(fixture / "mmproj.gguf", folder / entry.mmproj_file)
    manifest = {
        "format": 1,
        "id": model_id,
        "repo": entry.gguf_repo,
        "commit": "fixture",
        "files": {
            name: {"name": path.name, "size": path.stat().st_size}
            for name, path in (("model", model), ("mmproj", mmproj))
        },
    }
    (folder / "installed.json").write_text(json.dumps(manifest), encoding="utf-8")
    return Path(model), Path(mmproj)


def corrected_library(
    data_dir: DataDir, photos: Path, corrections: dict[str, str] = CORRECTIONS
) -> dict[str, int]:
    """Photos in the library, each with a model caption the user corrected."""
    db = Database(data_dir.database)
    try:
        library = Library(db)
        library.settings.set("active_model", MODEL_ID)
        library.settings.set("auto_caption", False)  # captions below are made by hand
        for key, value in FAST.items():
            library.settings.set(key, value)
        for name in corrections:
            write_photo(photos / f"{name}.jpg", name if name in REAL_PHOTOS else "astronaut")
        root = library.add_root(photos)
        library.scan(root.id)
        with db.read() as conn:
            ids = dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())
        store = CaptionStore(db)
        items = {}
        for name, text in corrections.items():
            item = ids[f"{name}.jpg"]
            store_model_caption(db, item, "zz qq", ["zz"], model_id=MODEL_ID, prompt_id="short")
            store.add_user_caption(item, text, [text.split()[-1]])
            items[name] = item
        return items
    finally:
        db.close()


def cli(data: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", "--data-dir", str(data), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def events_of(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@dataclass(frozen=True)
class TrainedLibrary:
    data_dir: DataDir
    items: dict[str, int]
    result: subprocess.CompletedProcess[str]
    events: list[dict[str, Any]]

    @property
    def adapter_id(self) -> str:
        (registered,) = [e for e in self.events if e["event"] == "registered"]
        return str(registered["adapter"]["id"])


@pytest.fixture(scope="session")
def trained_library(tmp_path_factory: pytest.TempPathFactory) -> TrainedLibrary:
    base = tmp_path_factory.mktemp("trained")
    data_dir = DataDir.resolve(base / "data")
    install_fixture_model(data_dir)
    items = corrected_library(data_dir, base / "photos")
    result = cli(
        data_dir.root, "finetune", "--json", "--base-weights", str(BASE_WEIGHTS), *TRAIN_ARGS
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return TrainedLibrary(data_dir, items, result, events_of(result.stdout))


def copy_trained_library(trained: TrainedLibrary, dest: Path) -> DataDir:
    """A private copy of the trained library's data directory to change freely."""
    shutil.copytree(trained.data_dir.root, dest, ignore=shutil.ignore_patterns("*.lock"))
    return DataDir.resolve(dest)
