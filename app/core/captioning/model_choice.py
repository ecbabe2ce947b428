"""Which model files caption a job: the job's own choice ("Caption again with…"),
the worker's override (CLI --model/--model-path), the user's custom pair, or the
active catalog model installed under the data directory."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from app.core.settings import SettingsValues
from models.catalog import Catalog, load_catalog
from models.installed import installed_models, read_installed

DEFAULT_N_CTX = 4096


class NoModel(Exception):
    """No usable model is installed or chosen; the message says what to do."""


@dataclass(frozen=True)
class ModelChoice:
    model_id: str
    model_path: Path
    mmproj_path: Path
    n_ctx: int = DEFAULT_N_CTX
    image_max_tokens: int | None = None


def choose_model(
    settings: SettingsValues, models_dir: Path, override: dict[str, Any] | None = None
) -> ModelChoice:
    wanted = override or {}
    if wanted.get("model_path"):
        choice = _custom(wanted["model_path"], wanted.get("mmproj_path"), "--model-path")
        # A context size of its own (a model made for a small one, or a test's).
        return replace(choice, n_ctx=int(wanted.get("n_ctx") or choice.n_ctx))
    if wanted.get("model"):
        return installed_catalog_model(models_dir, wanted["model"])
    if custom := settings.custom_model_path:
        return _custom(custom, settings.custom_mmproj_path, "the custom model setting")
    active = settings.active_model
    if active:
        return installed_catalog_model(models_dir, active)
    installed = installed_models(models_dir)
    if installed:
        return installed_catalog_model(models_dir, installed[0].entry_id)
    raise NoModel(
        "no captioning model is installed yet: download one (Models, or "
        "`captionist models download ID`) or choose a GGUF model and its mmproj"
    )


def installed_catalog_model(models_dir: Path, model_id: str) -> ModelChoice:
    """A catalog model whose download finished and was verified (its manifest)."""
    entry = _bundled_catalog().get(model_id)
    installed = read_installed(model_id, models_dir) if entry is not None else None
    if entry is None or installed is None:
        raise NoModel(f"the model {model_id!r} is not installed (download it first)")
    return ModelChoice(
        model_id,
        installed.model_path,
        installed.mmproj_path,
        n_ctx=entry.context_size,
        image_max_tokens=entry.image_max_tokens,
    )


@cache
def _bundled_catalog() -> Catalog:
    """The catalog shipped with the app: it cannot change while the process runs, and
    the worker asks for the model of every job (parsing it took ~0.5 ms each time)."""
    return load_catalog()


def _custom(model: str, mmproj: str | None, where: str) -> ModelChoice:
    if not mmproj:
        raise NoModel(f"{where} names a model but no vision projector (mmproj) file")
    model_path, mmproj_path = Path(model).expanduser(), Path(mmproj).expanduser()
    for path in (model_path, mmproj_path):
        if not path.is_file():
            raise NoModel(f"{where}: file not found: {path}")
    return ModelChoice(f"custom:{model_path.stem}", model_path, mmproj_path)
