"""Corrections for fine-tuning tests: real photos with distinctive captions, and specs.

The photos are scikit-image's; each gets a caption no other photo has, so a model that
reproduces the caption for a photo must have told the photos apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from tests.media_factory import real_photo
from tests.models.conftest import FIXTURES

CAPTIONS = {
    "astronaut": "An astronaut in a white suit holds a helmet.",
    "coffee": "A cup of coffee on a saucer.",
    "chelsea": "A tabby cat looks at the camera.",
    "rocket": "A rocket stands on the launch pad.",
}
SHORT_PROMPT = {
    "id": "short",
    "name": "Short caption",
    "instruction": "Write one short sentence in {language} that says what this photo shows, "
    "then up to 8 one-word tags.{context}",
}
ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# Memorises the four captions in a few seconds on a CPU (random 2-layer model, hidden 64).
TINY_LORA = {"rank": 32, "alpha": 64, "dropout": 0.0, "target_modules": ALL_PROJECTIONS}
TINY_TRAIN = {"epochs": 60, "learning_rate": 5e-3, "seed": 0, "batch_size": 1, "grad_accum": 1}


def write_photo_jpeg(directory: Path, name: str, side: int = 128) -> Path:
    """A JPEG as the caption worker hands it to the model (prepared, small)."""
    directory.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(real_photo(name))
    image.thumbnail((side, side))
    path = directory / f"{name}.jpg"
    image.convert("RGB").save(path, "JPEG", quality=90)
    return path


def example(images_dir: Path, name: str, *, example_id: str | None = None) -> dict[str, Any]:
    caption = CAPTIONS[name]
    return {
        "id": example_id or name,
        "images": [str(write_photo_jpeg(images_dir, name))],
        "timestamps": None,
        "prompt": SHORT_PROMPT,
        "language": "English",
        "exif_context": None,
        "target": {
            "caption": caption,
            "tags": caption.lower().rstrip(".").split()[1:3],
            "language": "English",
        },
    }


def spec_dict(
    tmp_path: Path,
    architecture: str = "smolvlm",
    *,
    names: tuple[str, ...] = tuple(CAPTIONS),
    heldout: tuple[str, ...] = ("astronaut", "coffee"),
    **overrides: Any,
) -> dict[str, Any]:
    """A SPEC.json for the tiny fixture model (local HF weights: no download)."""
    fixture = FIXTURES / architecture
    images = tmp_path / "images"
    spec: dict[str, Any] = {
        "version": 1,
        "model_id": f"tiny-{architecture}",
        "family": None,
        "base_weights": {"repo": None, "revision": "main", "local_dir": str(fixture / "hf")},
        "cache_dir": str(tmp_path / "base_weights"),
        "base_gguf": str(fixture / "model.gguf"),
        "mmproj": str(fixture / "mmproj.gguf"),
        "output_dir": str(tmp_path / "adapters" / "adapter-1"),
        "method": "auto",
        "lora": dict(TINY_LORA),
        "train": {**TINY_TRAIN, "max_image_side": 512},
        "examples": [example(images, n) for n in names],
        # The same photos as some trained ones, under other ids: with random weights nothing
        # generalises, so this measures that the trained behaviour reaches llama.cpp.
        "heldout": [example(images, n, example_id=f"held-{n}") for n in heldout],
        "evaluate": True,
    }
    spec.update(overrides)
    return spec
