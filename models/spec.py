"""What the runtime needs to load a model: a GGUF + mmproj pair and a few settings.

A `ModelSpec` comes either from the catalog (a downloaded pair) or from any local pair the
user points at ("custom"). Custom pairs are checked here, before llama.cpp sees them: a
swapped pair, a text-only model or a cut-off file would otherwise fail deep in the native
loader (or abort the worker process) with a message no user can act on.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from models.catalog import CatalogEntry
from models.errors import InvalidModelFiles
from models.gguf_info import GgufError, GgufInfo, read_gguf_info

CUSTOM_FAMILY = "custom"
DEFAULT_CONTEXT = 8192
_PROJECTOR_ARCHITECTURES = {"clip", "mtmd"}


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    family: str
    model_path: Path
    mmproj_path: Path
    context_size: int
    video_trained: bool = False
    image_tokens_hint: int | None = None
    base_weights_repo: str | None = None  # for fine-tuning; None for custom pairs

    @property
    def is_custom(self) -> bool:
        return self.family == CUSTOM_FAMILY


def catalog_spec(entry: CatalogEntry, model_path: Path, mmproj_path: Path) -> ModelSpec:
    """The spec of a downloaded catalog model (the files were verified by their checksums)."""
    return ModelSpec(
        id=entry.id,
        name=entry.name,
        family=entry.family,
        model_path=model_path,
        mmproj_path=mmproj_path,
        context_size=entry.context_size,
        video_trained=entry.video_trained,
        image_tokens_hint=entry.image_tokens_hint,
        base_weights_repo=entry.base_weights_repo,
    )


def custom_model_spec(
    model_path: str | os.PathLike[str],
    mmproj_path: str | os.PathLike[str],
    *,
    name: str | None = None,
    context_size: int | None = None,
) -> ModelSpec:
    """Validate a user's own GGUF + mmproj pair and describe it; raise `InvalidModelFiles`."""
    model = _inspect(Path(model_path), "model")
    mmproj = _inspect(Path(mmproj_path), "vision projector (mmproj)")
    model_is_projector = _is_projector(model)
    mmproj_is_projector = _is_projector(mmproj)
    if model_is_projector and not mmproj_is_projector:
        raise InvalidModelFiles(
            f"The two files look swapped: {model.path.name} is the vision projector and "
            f"{mmproj.path.name} the language model."
        )
    if model_is_projector:
        raise InvalidModelFiles(f"{model.path.name} is a vision projector, not a language model.")
    if not mmproj_is_projector:
        raise InvalidModelFiles(
            f"{mmproj.path.name} is not a vision projector: it has no clip/mmproj metadata. "
            "Choose the mmproj-*.gguf file that belongs to this model."
        )
    _check_belong_together(model, mmproj)
    arch = model.architecture or "unknown"
    trained = model.metadata.get(f"{arch}.context_length")
    if context_size is None:
        context_size = min(trained, DEFAULT_CONTEXT) if isinstance(trained, int) else 4096
    label = name or str(model.metadata.get("general.name") or model.path.stem)
    resolved = model.path.resolve()
    # Two custom "model.gguf" files in different folders must not share an id.
    digest = hashlib.sha1(str(resolved).encode("utf-8")).hexdigest()[:8]
    return ModelSpec(
        id=f"custom-{_slug(model.path.stem)}-{digest}",
        name=label,
        family=CUSTOM_FAMILY,
        model_path=resolved,
        mmproj_path=mmproj.path.resolve(),
        context_size=context_size,
    )


def _inspect(path: Path, role: str) -> GgufInfo:
    if not path.exists():
        raise InvalidModelFiles(f"The {role} file does not exist: {path}")
    if not path.is_file():
        raise InvalidModelFiles(f"The {role} path is not a file: {path}")
    try:
        return read_gguf_info(path)
    except GgufError as exc:
        raise InvalidModelFiles(f"{path.name} cannot be used as the {role}: {exc}.") from None
    except OSError as exc:
        raise InvalidModelFiles(f"{path.name} cannot be read: {exc.strerror or exc}.") from None


def _check_belong_together(model: GgufInfo, mmproj: GgufInfo) -> None:
    """Projector type and width against the model's (models.gguf_pair, when `gguf` is there)."""
    try:
        from models.gguf_pair import PairError, check_pair
    except ImportError:
        return
    try:
        check_pair(model.path, mmproj.path)
    except ImportError:  # gguf_pair reads with the optional `gguf` package
        return
    except PairError as exc:
        raise InvalidModelFiles(f"These files do not work together: {exc}.") from None


def _is_projector(info: GgufInfo) -> bool:
    if info.architecture in _PROJECTOR_ARCHITECTURES:
        return True
    return any(key.startswith("clip.") for key in info.metadata)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:48] or "model"
