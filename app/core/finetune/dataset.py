"""Training examples from corrections: what the model saw, what it was asked, and
what the user says it should have answered.

Each example is built the way the caption worker captions: the same media
preparation (`app.core.captioning.prepare.prepare` with the worker's settings), the
same prompt (the one that produced the corrected caption, with the user's edits of
it), the same language setting. The target is the JSON answer the engine generates:
caption, tags and language, and for a video one caption per keyframe. So the adapter
learns exactly the exchange it will take part in.

A file that is gone or cannot be decoded is skipped with its reason; it never stops
the job.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.core.captioning.job_settings import SettingsSnapshot
from app.core.captioning.prepare import ModelInput, prepare
from app.core.captioning.store import SAME_MOMENT_S
from app.core.captions import CaptionStore
from app.core.finetune.corrections import TrainingCorrection, example_id
from app.core.media.errors import MediaError
from app.core.storage.db import Database
from app.core.storage.schema import Keyframe
from models.finetune.spec import TrainingSpec
from models.prompts import PromptTemplate, builtin_prompts

Example = dict[str, Any]  # the EXAMPLE shape of models.finetune.spec


@dataclass(frozen=True)
class Skipped:
    item_id: int
    path: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "path": self.path, "reason": self.reason}


@dataclass
class PreparedDataset:
    examples: list[Example] = field(default_factory=list)  # to train on
    heldout: list[Example] = field(default_factory=list)  # to evaluate on
    skipped: list[Skipped] = field(default_factory=list)
    cancelled: bool = False


@dataclass(frozen=True)
class _Source:
    """One item to turn into an example (all its included corrections)."""

    item_id: int
    path: str
    kind: str
    prompt_id: str | None
    heldout: bool


def sources(corrections: Sequence[TrainingCorrection]) -> list[_Source]:
    """One source per item with at least one included correction, in table order."""
    found: dict[int, _Source] = {}
    for row in corrections:
        if row.excluded:
            continue
        known = found.get(row.item_id)
        if known is None or (known.prompt_id is None and row.prompt_id):
            found[row.item_id] = _Source(
                row.item_id, row.path, row.kind, row.prompt_id, row.heldout
            )
    return list(found.values())


def prepare_dataset(
    db: Database,
    corrections: Sequence[TrainingCorrection],
    *,
    images_dir: Path,
    thumbnails: Path,
    should_cancel: Callable[[], bool] = lambda: False,
    on_item: Callable[[int, int], None] = lambda _done, _total: None,
) -> PreparedDataset:
    """Prepare every included item's images into `images_dir` and build its example."""
    settings = SettingsSnapshot.read(db)
    options = settings.media_options()
    prompts = builtin_prompts()
    language: str = settings.caption_language
    store = CaptionStore(db)
    images_dir.mkdir(parents=True, exist_ok=True)
    result = PreparedDataset()
    todo = sources(corrections)
    for done, source in enumerate(todo):
        if should_cancel():
            result.cancelled = True
            return result
        on_item(done, len(todo))
        try:
            prepared = prepare(
                source.item_id,
                os.fsencode(source.path),
                source.kind,
                thumbnails=thumbnails,
                max_side=options.max_side,
                max_keyframes=options.max_keyframes,
                with_exif_context=options.with_exif_context,
            )
            target = _target(db, store, source, prepared, language)
        except MediaError as exc:
            result.skipped.append(Skipped(source.item_id, source.path, str(exc)))
            continue
        template = settings.template(prompts, source.prompt_id)
        example = {
            "id": example_id(source.item_id),
            "images": _write_images(images_dir, source.item_id, prepared.images),
            "timestamps": prepared.timestamps,
            "prompt": _prompt(template),
            "language": language,
            "exif_context": prepared.exif_context,
            "target": target,
        }
        (result.heldout if source.heldout else result.examples).append(example)
    on_item(len(todo), len(todo))
    return result


def _prompt(template: PromptTemplate) -> dict[str, str]:
    return {"id": template.id, "name": template.name, "instruction": template.instruction}


def _write_images(folder: Path, item_id: int, images: Sequence[bytes]) -> list[str]:
    paths = []
    for index, jpeg in enumerate(images):
        path = folder / f"item-{item_id}-{index:02d}.jpg"
        path.write_bytes(jpeg)
        paths.append(str(path))
    return paths


def _target(
    db: Database, store: CaptionStore, source: _Source, prepared: ModelInput, language: str
) -> dict[str, Any]:
    """The item's current caption and tags (the user's, where corrected); for a video
    also the current caption of each keyframe the worker would send, in order."""
    current = store.current(source.item_id)
    if current is None:  # pragma: no cover - a correction implies a caption
        raise MediaError("the item has no caption any more")
    target: dict[str, Any] = {
        "caption": current.text,
        "tags": [tag for tag in current.tags or () if tag.strip()],
        "language": language,
    }
    if prepared.timestamps is not None:
        target["moments"] = _moment_captions(db, store, source.item_id, prepared.timestamps)
    return target


def _moment_captions(
    db: Database, store: CaptionStore, item_id: int, timestamps: Sequence[float]
) -> list[str]:
    with db.read() as conn:
        keyframes = conn.execute(
            select(Keyframe.id, Keyframe.timestamp).where(Keyframe.item_id == item_id)
        ).all()
    moments = []
    for stamp in timestamps:
        match = next((k.id for k in keyframes if abs(k.timestamp - stamp) < SAME_MOMENT_S), None)
        caption = store.current(item_id, match) if match is not None else None
        if caption is None:
            raise MediaError(
                f"the video's keyframes changed since it was captioned (no caption at "
                f"{stamp:.1f}s); caption it again to train on it"
            )
        moments.append(caption.text)
    return moments


def build_spec(
    data: PreparedDataset,
    *,
    model_id: str,
    family: str | None,
    base_weights_repo: str | None,
    base_weights_dir: Path | None,
    cache_dir: Path,
    base_gguf: Path,
    mmproj: Path,
    output_dir: Path,
    settings: dict[str, Any],
) -> str:
    """The training process's SPEC.json (models.finetune.spec), as text. Raises
    models.finetune.spec.SpecError for settings it cannot accept."""
    spec = {
        "version": 1,
        "model_id": model_id,
        "family": family,
        "base_weights": {
            "repo": base_weights_repo,
            "revision": "main",
            "local_dir": str(base_weights_dir) if base_weights_dir is not None else None,
        },
        "cache_dir": str(cache_dir),
        "base_gguf": str(base_gguf),
        "mmproj": str(mmproj),
        "output_dir": str(output_dir),
        "method": settings["method"],
        "lora": settings["lora"],
        "train": settings["train"],
        "examples": data.examples,
        "heldout": data.heldout,
        "evaluate": settings["evaluate"] and bool(data.heldout),
    }
    # Read back through the training process's own reader: a field it would refuse
    # fails here, before the process starts and loads a model.
    return TrainingSpec.from_dict(spec).to_json()
