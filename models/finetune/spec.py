"""The training process's input: SPEC.json, as typed dataclasses.

The app writes the spec, `python -m models.finetune.run SPEC.json` reads it. Reading checks
every field and says which one is wrong, so a bad spec is one clear error before minutes of
model loading, not a KeyError deep inside training. No heavy imports: the GUI uses this.
"""

from __future__ import annotations

import builtins
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.prompts import AnswerLimits, PromptTemplate

SPEC_VERSION = 1
METHODS = ("auto", "lora", "qlora")


class SpecError(ValueError):
    """The spec is not usable; the message names the field and what is wrong with it."""


@dataclass(frozen=True)
class LoraSettings:
    """The seed article's defaults: r=64, alpha=128, dropout 0.05 on q_proj/v_proj."""

    rank: int = 64
    alpha: float = 128.0
    dropout: float = 0.05
    # Projection names inside the language model's layers; train.py anchors them to the
    # language model with a regex, so the vision tower's q_proj/v_proj stay untouched.
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 3
    learning_rate: float = 2e-4
    seed: int = 0
    batch_size: int = 1
    grad_accum: int = 1
    max_image_side: int = 512
    # None: on for models big enough to need it (activations dominate memory there).
    gradient_checkpointing: bool | None = None


@dataclass(frozen=True)
class BaseWeights:
    """Where the original (transformers) weights of the GGUF model come from."""

    repo: str | None
    revision: str = "main"
    local_dir: Path | None = None  # set: use this checkpoint as is, download nothing


@dataclass(frozen=True)
class Target:
    """The answer the model should have given: the engine's JSON answer shape."""

    caption: str
    tags: tuple[str, ...] = ()
    language: str | None = None
    moments: tuple[str, ...] | None = None  # one per keyframe, for a video

    def answer_json(self) -> str:
        """The JSON text the engine generates, keys in the schema's order (models.prompts)."""
        answer: dict[str, Any] = {
            "caption": self.caption,
            "tags": list(self.tags),
            "language": self.language or "",
        }
        if self.moments is not None:
            answer["moments"] = list(self.moments)
        return json.dumps(answer, ensure_ascii=False)


@dataclass(frozen=True)
class Example:
    id: str
    images: tuple[Path, ...]
    prompt: PromptTemplate
    target: Target
    language: str = "English"
    exif_context: str | None = None
    timestamps: tuple[float, ...] | None = None  # set for a video's keyframes


@dataclass(frozen=True)
class TrainingSpec:
    model_id: str
    base_weights: BaseWeights
    cache_dir: Path
    base_gguf: Path
    mmproj: Path
    output_dir: Path
    examples: tuple[Example, ...]
    heldout: tuple[Example, ...] = ()
    family: str | None = None
    method: str = "auto"
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    evaluate: bool = True
    # Caption length and tag count the evaluation captions are held to: the caption
    # worker's (the user's caption-length setting), so "after" is what the user will get.
    answer_limits: AnswerLimits = field(default_factory=AnswerLimits)
    version: int = SPEC_VERSION

    @property
    def partial_dir(self) -> Path:
        """Everything is written here first and renamed to `output_dir` only at the end."""
        return self.output_dir.with_name(self.output_dir.name + ".partial")

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "model_id": self.model_id,
            "family": self.family,
            "base_weights": {
                "repo": self.base_weights.repo,
                "revision": self.base_weights.revision,
                "local_dir": _str(self.base_weights.local_dir),
            },
            "cache_dir": str(self.cache_dir),
            "base_gguf": str(self.base_gguf),
            "mmproj": str(self.mmproj),
            "output_dir": str(self.output_dir),
            "method": self.method,
            "lora": {
                "rank": self.lora.rank,
                "alpha": self.lora.alpha,
                "dropout": self.lora.dropout,
                "target_modules": list(self.lora.target_modules),
            },
            "train": {
                "epochs": self.train.epochs,
                "learning_rate": self.train.learning_rate,
                "seed": self.train.seed,
                "batch_size": self.train.batch_size,
                "grad_accum": self.train.grad_accum,
                "max_image_side": self.train.max_image_side,
                "gradient_checkpointing": self.train.gradient_checkpointing,
            },
            "examples": [_example_dict(e) for e in self.examples],
            "heldout": [_example_dict(e) for e in self.heldout],
            "evaluate": self.evaluate,
            "answer_limits": {
                "caption_chars": self.answer_limits.caption_chars,
                "max_tags": self.answer_limits.max_tags,
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> TrainingSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"the spec is not valid JSON ({exc})") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: Path) -> TrainingSpec:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"cannot read the spec {path}: {exc}") from None
        return cls.from_json(text)

    @classmethod
    def from_dict(cls, data: Any) -> TrainingSpec:
        r = _Reader(data, "spec")
        version = r.int("version", default=SPEC_VERSION)
        if version != SPEC_VERSION:
            raise SpecError(f"spec version {version} is not supported (expected {SPEC_VERSION})")
        base = r.sub("base_weights")
        lora = r.sub("lora", default={})
        train = r.sub("train", default={})
        limits = r.sub("answer_limits", default={})
        spec = cls(
            version=version,
            model_id=r.str("model_id"),
            family=r.opt_str("family"),
            base_weights=BaseWeights(
                repo=base.opt_str("repo"),
                revision=base.opt_str("revision") or "main",
                local_dir=base.opt_path("local_dir"),
            ),
            cache_dir=r.path("cache_dir"),
            base_gguf=r.path("base_gguf"),
            mmproj=r.path("mmproj"),
            output_dir=r.path("output_dir"),
            method=r.choice("method", METHODS, default="auto"),
            lora=LoraSettings(
                rank=lora.int("rank", default=64, minimum=1),
                alpha=lora.number("alpha", default=128.0, minimum=0.0),
                dropout=lora.number("dropout", default=0.05, minimum=0.0, maximum=0.9),
                target_modules=tuple(lora.str_list("target_modules", default=["q_proj", "v_proj"])),
            ),
            train=TrainSettings(
                epochs=train.int("epochs", default=3, minimum=1),
                learning_rate=train.number("learning_rate", default=2e-4, minimum=1e-9),
                seed=train.int("seed", default=0),
                batch_size=train.int("batch_size", default=1, minimum=1),
                grad_accum=train.int("grad_accum", default=1, minimum=1),
                max_image_side=train.int("max_image_side", default=512, minimum=16),
                gradient_checkpointing=train.opt_bool("gradient_checkpointing"),
            ),
            examples=tuple(_example(x, f"examples[{i}]") for i, x in enumerate(r.list("examples"))),
            heldout=tuple(
                _example(x, f"heldout[{i}]") for i, x in enumerate(r.list("heldout", default=[]))
            ),
            evaluate=r.bool("evaluate", default=True),
            answer_limits=AnswerLimits(
                caption_chars=limits.int("caption_chars", default=512, minimum=16),
                max_tags=limits.int("max_tags", default=10, minimum=0),
            ),
        )
        if not spec.lora.target_modules:
            raise SpecError("spec.lora.target_modules must name at least one projection")
        return spec


def _str(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def _example_dict(example: Example) -> dict[str, Any]:
    target: dict[str, Any] = {
        "caption": example.target.caption,
        "tags": list(example.target.tags),
        "language": example.target.language,
    }
    if example.target.moments is not None:
        target["moments"] = list(example.target.moments)
    return {
        "id": example.id,
        "images": [str(p) for p in example.images],
        "timestamps": list(example.timestamps) if example.timestamps is not None else None,
        "prompt": {
            "id": example.prompt.id,
            "name": example.prompt.name,
            "instruction": example.prompt.instruction,
        },
        "language": example.language,
        "exif_context": example.exif_context,
        "target": target,
    }


def _example(raw: Any, where: str) -> Example:
    r = _Reader(raw, where)
    images = tuple(Path(p) for p in r.str_list("images"))
    if not images:
        raise SpecError(f"{where}.images must list at least one image")
    timestamps = r.opt_number_list("timestamps")
    if timestamps is not None and len(timestamps) != len(images):
        raise SpecError(f"{where}.timestamps has {len(timestamps)} values for {len(images)} images")
    prompt = r.sub("prompt")
    target = r.sub("target")
    moments = target.opt_str_list("moments")
    if timestamps is not None and moments is not None and len(moments) != len(images):
        raise SpecError(
            f"{where}.target.moments has {len(moments)} values for {len(images)} frames"
        )
    caption = target.str("caption")
    language = r.opt_str("language") or "English"
    return Example(
        id=r.str("id"),
        images=images,
        timestamps=tuple(timestamps) if timestamps is not None else None,
        prompt=PromptTemplate(prompt.str("id"), prompt.str("name"), prompt.str("instruction")),
        language=language,
        exif_context=r.opt_str("exif_context"),
        target=Target(
            caption=caption,
            tags=tuple(target.str_list("tags", default=[])),
            language=target.opt_str("language") or language,
            moments=tuple(moments) if moments is not None else None,
        ),
    )


_MISSING: Any = object()


class _Reader:
    """Typed access to one JSON object, with the path of each field in its errors."""

    # Its methods are named after the types they read (str, bool, list), which shadow the
    # builtins inside the class body: annotations here spell builtins.str and so on.

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise SpecError(f"{where} must be an object")
        self.data, self.where = data, where

    def _get(self, key: str, default: Any) -> Any:
        if key in self.data and self.data[key] is not None:
            return self.data[key]
        if default is _MISSING:
            raise SpecError(f"{self.where}.{key} is missing")
        return default

    def _fail(self, key: str, wanted: str, value: Any) -> SpecError:
        return SpecError(f"{self.where}.{key} must be {wanted}, got {value!r}")

    def sub(self, key: str, default: Any = _MISSING) -> _Reader:
        return _Reader(self._get(key, default), f"{self.where}.{key}")

    def str(self, key: str) -> str:
        value = self._get(key, _MISSING)
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, "a non-empty string", value)
        return value

    def opt_str(self, key: builtins.str) -> builtins.str | None:
        value = self._get(key, None)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._fail(key, "a string or null", value)
        return value or None

    def path(self, key: builtins.str) -> Path:
        return Path(self.str(key))

    def opt_path(self, key: builtins.str) -> Path | None:
        value = self.opt_str(key)
        return Path(value) if value else None

    def choice(
        self, key: builtins.str, options: Sequence[builtins.str], default: builtins.str
    ) -> builtins.str:
        value = self._get(key, default)
        if value not in options:
            raise self._fail(key, "one of " + ", ".join(options), value)
        return str(value)

    def bool(self, key: builtins.str, default: builtins.bool) -> builtins.bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def opt_bool(self, key: builtins.str) -> builtins.bool | None:
        value = self._get(key, None)
        if value is not None and not isinstance(value, bool):
            raise self._fail(key, "true, false or null", value)
        return value

    def int(self, key: builtins.str, default: Any = _MISSING, minimum: int | None = None) -> int:
        value = self._get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(key, "a whole number", value)
        if minimum is not None and value < minimum:
            raise self._fail(key, f"at least {minimum}", value)
        return value

    def number(
        self,
        key: builtins.str,
        default: float,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        value = self._get(key, default)
        if not _is_number(value):
            raise self._fail(key, "a number", value)
        if minimum is not None and value < minimum:
            raise self._fail(key, f"at least {minimum}", value)
        if maximum is not None and value > maximum:
            raise self._fail(key, f"at most {maximum}", value)
        return float(value)

    def list(self, key: builtins.str, default: Any = _MISSING) -> builtins.list[Any]:
        value = self._get(key, default)
        if not isinstance(value, list):
            raise self._fail(key, "a list", value)
        return value

    def str_list(self, key: builtins.str, default: Any = _MISSING) -> builtins.list[builtins.str]:
        value = self.list(key, default)
        if not all(isinstance(v, str) and v for v in value):
            raise self._fail(key, "a list of non-empty strings", value)
        return value

    def opt_str_list(self, key: builtins.str) -> builtins.list[builtins.str] | None:
        return self.str_list(key) if self.data.get(key) is not None else None

    def opt_number_list(self, key: builtins.str) -> builtins.list[float] | None:
        if self.data.get(key) is None:
            return None
        value = self.list(key)
        if not all(_is_number(v) and v >= 0 for v in value):
            raise self._fail(key, "a list of seconds (numbers, not negative)", value)
        return [float(v) for v in value]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
