"""The shapes-world model in tests and benchmarks: where it is, held-out items to show
it, and the app's own `caption --json` to run it.

The model (tests/fixtures/models/world, made by tests/fixtures/make_world_model.py) was
trained on the world's "train" split under its seed; everything here uses the held-out
split of the same seed, which it never saw.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.world.photos import PhotoOptions, make_photo
from models.world.split import HELDOUT, split_of
from models.world.truth import PhotoTruth, VideoTruth
from models.world.videos import make_video

ROOT = Path(__file__).resolve().parents[1]
WORLD_MODEL = ROOT / "tests" / "fixtures" / "models" / "world"
RANDOM_MODEL = ROOT / "tests" / "fixtures" / "models" / "smolvlm"


def world_seed() -> int:
    return int(json.loads((WORLD_MODEL / "fixture.json").read_text(encoding="utf-8"))["seed"])


def heldout_stream(kind: str, seed: int, start: int = 0) -> Iterator[int]:
    """The held-out item numbers of a kind, from `start` on."""
    return (i for i in itertools.count(start) if split_of(seed, kind, i) == HELDOUT)


def heldout_indexes(kind: str, count: int, seed: int, start: int = 0) -> list[int]:
    return list(itertools.islice(heldout_stream(kind, seed, start), count))


def write_heldout_photos(
    folder: Path, count: int, *, seed: int | None = None, options: PhotoOptions | None = None,
    start: int = 0, wanted: Callable[[PhotoTruth], bool] = lambda _truth: True,
) -> list[tuple[Path, PhotoTruth]]:  # fmt: skip
    """The first `count` held-out photos of the world (from item `start` on) for which
    `wanted(truth)` holds, written as their files."""
    seed = world_seed() if seed is None else seed
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, PhotoTruth]] = []
    for index in heldout_stream("photo", seed, start):
        if len(written) == count:
            break
        photo = make_photo(seed, index, options, split=HELDOUT)
        if wanted(photo.truth):
            path = folder / Path(photo.truth.file).name
            path.write_bytes(photo.encoded())
            written.append((path, photo.truth))
    return written


def write_heldout_videos(
    folder: Path, count: int, *, seed: int | None = None
) -> list[tuple[Path, VideoTruth]]:
    seed = world_seed() if seed is None else seed
    written = []
    for index in heldout_indexes("video", count, seed):
        video = make_video(seed, index, split=HELDOUT)
        written.append((video.write(folder / Path(video.truth.file).name), video.truth))
    return written


def store_settings(data_dir: Path, settings: dict[str, Any]) -> None:
    from app.core.datadir import DataDir
    from app.core.settings import Settings
    from app.core.storage.db import Database

    db = Database(DataDir.resolve(data_dir).database)
    try:
        for key, value in settings.items():
            Settings(db).set(key, value)
    finally:
        db.close()


@dataclass(frozen=True)
class Captioned:
    path: str
    answer: str  # the caption and tags as the engine's JSON answer, for scoring
    moments: list[dict[str, Any]]
    error: str | None


def caption_files(
    data_dir: Path, model_dir: Path | None, paths: Sequence[Path], *,
    prompt: str | None = None, timeout: float = 1800, settings: dict[str, Any] | None = None,
) -> list[Captioned]:  # fmt: skip
    """`captionist caption --json` on these files: what a user gets. With `model_dir`
    that model's GGUF pair; without, the library's own model (and its active adapter).
    `settings` are stored in the library first, as the user would set them."""
    if settings:
        store_settings(data_dir, settings)
    model = (
        ["--model-path", str(model_dir / "model.gguf"), "--mmproj", str(model_dir / "mmproj.gguf")]
        if model_dir is not None
        else []
    )
    args = [
        sys.executable, "main.py", "--data-dir", str(data_dir), "caption", "--json", *model,
        *(["--prompt", prompt] if prompt else []),
        *[str(p) for p in paths],
    ]  # fmt: skip
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode not in (0, 1):
        raise AssertionError(f"caption failed ({done.returncode}): {done.stderr[-2000:]}")
    results = json.loads(done.stdout)
    return [
        Captioned(
            r["path"],
            json.dumps({"caption": r.get("caption") or "", "tags": r.get("tags") or []})
            if r.get("caption") is not None
            else "",
            r.get("moments") or [],
            r.get("error"),
        )
        for r in results
    ]
