"""Examples as model inputs: the engine's prompt with the images, the JSON answer as target.

Each example becomes one sequence: the prompt exactly as the caption engine sends it
(`chat.render` of `models.prompts.build_messages`, the GGUF's chat template), its images
through the Hugging Face processor, then the target answer JSON and the end-of-turn token.
Labels are -100 on the prompt, so the loss is on the answer tokens only. Imported only in
the training process (torch, transformers).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from models.finetune import chat
from models.finetune.spec import Example
from models.regular_file import regular_file

IGNORE_INDEX = -100
CACHE_BYTES = 512 * 1024 * 1024  # encoded examples kept in memory between epochs
log = logging.getLogger(__name__)


class DatasetError(ValueError):
    """An example cannot be used (missing image, prompt too long...); the message says which."""


@dataclass
class EncodedExample:
    id: str
    inputs: dict[str, Any]  # input_ids, attention_mask, labels, pixel_values, ... (batch of 1)
    prompt_tokens: int
    answer_tokens: int


@dataclass(frozen=True)
class PromptFormat:
    """How this model's prompts look: the GGUF chat template and the processor's markers."""

    template: str
    bos_token: str
    eos_token: str
    image_placeholder: str
    turn_suffix: str


def load_processor(model_dir: Path) -> Any:
    """The Hugging Face processor (tokenizer + image processor) of a VLM checkpoint.

    `AutoProcessor` also builds a *video* processor for SmolVLM/Qwen-VL, which needs
    torchvision; we give the model keyframes as images, so without torchvision the same
    processor class is built with no video processor instead of failing.
    """
    import importlib.util

    from transformers import AutoProcessor

    wants_video = "video_processor" in _init_parameters(_processor_class(model_dir))
    if wants_video and importlib.util.find_spec("torchvision") is None:
        return _processor_without_video(model_dir)
    processor: Any = AutoProcessor.from_pretrained(str(model_dir))
    return processor


def _settings(model_dir: Path) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for name in ("processor_config.json", "preprocessor_config.json"):
        path = model_dir / name
        if path.is_file():
            settings = {**json.loads(path.read_text(encoding="utf-8")), **settings}
    return settings


def _processor_class(model_dir: Path) -> Any:
    import transformers

    name = _settings(model_dir).get("processor_class")
    return getattr(transformers, str(name), None) if name else None


def _init_parameters(processor_class: Any) -> set[str]:
    import inspect

    if processor_class is None:
        return set()
    return set(inspect.signature(processor_class.__init__).parameters)


def _processor_without_video(model_dir: Path) -> Any:
    from transformers import AutoImageProcessor, AutoTokenizer
    from transformers.processing_utils import ProcessorMixin

    processor_class = _processor_class(model_dir)
    if processor_class is None:
        raise DatasetError(f"{model_dir} does not name a known processor class")
    image_processor = AutoImageProcessor.from_pretrained(str(model_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    init_args = _init_settings(processor_class, model_dir)
    original: Callable[..., Any] = ProcessorMixin.check_argument_for_proper_class

    def accept_missing(self: Any, name: str, argument: Any) -> Any:
        return None if argument is None else original(self, name, argument)

    ProcessorMixin.check_argument_for_proper_class = accept_missing  # type: ignore[method-assign]  # patched for this one call
    try:
        return processor_class(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=_chat_template(model_dir, tokenizer),
            **init_args,
        )
    finally:
        ProcessorMixin.check_argument_for_proper_class = original  # type: ignore[method-assign]  # restored


def _init_settings(processor_class: Any, model_dir: Path) -> dict[str, Any]:
    """processor_config.json values the processor's __init__ takes (e.g. image_seq_len)."""
    path = model_dir / "processor_config.json"
    if not path.is_file():
        return {}
    accepted = _init_parameters(processor_class)
    accepted -= {"self", "image_processor", "tokenizer", "video_processor", "chat_template"}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if k in accepted}


def _chat_template(model_dir: Path, tokenizer: Any) -> str | None:
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    as_json = model_dir / "chat_template.json"
    if as_json.is_file():
        template: str | None = json.loads(as_json.read_text(encoding="utf-8")).get("chat_template")
        return template
    return getattr(tokenizer, "chat_template", None)


def prompt_format(processor: Any, model_gguf: Path) -> PromptFormat:
    tokenizer = processor.tokenizer
    template = chat.gguf_chat_template(model_gguf)
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    return PromptFormat(
        template=template,
        bos_token=bos,
        eos_token=eos,
        image_placeholder=chat.processor_image_placeholder(processor),
        turn_suffix=chat.turn_suffix(template, bos_token=bos, eos_token=eos),
    )


def load_images(example: Example, max_side: int) -> list[Any]:
    """The example's JPEGs (as the engine receives them), scaled down to `max_side`:
    image tokens dominate training memory and time."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for path in example.images:
        try:
            with regular_file(path) as stream, Image.open(stream) as opened:
                image = opened.convert("RGB")
        except FileNotFoundError:
            raise DatasetError(f"example {example.id}: the image {path} is missing") from None
        except (OSError, UnidentifiedImageError) as exc:
            raise DatasetError(f"example {example.id}: cannot read {path} ({exc})") from None
        image.thumbnail((max_side, max_side))
        images.append(image)
    return images


def prompt_text(example: Example, fmt: PromptFormat) -> str:
    """The engine's prompt with the processor's image placeholders in place of the markers."""
    text = chat.render(
        fmt.template,
        chat.engine_messages(example),
        bos_token=fmt.bos_token,
        eos_token=fmt.eos_token,
    )
    if text.count(chat.MEDIA_MARKER) != len(example.images):
        raise DatasetError(
            f"example {example.id}: the chat template placed {text.count(chat.MEDIA_MARKER)} "
            f"of {len(example.images)} images"
        )
    return text.replace(chat.MEDIA_MARKER, fmt.image_placeholder)


def encode(example: Example, processor: Any, fmt: PromptFormat, max_side: int) -> EncodedExample:
    """Token ids, labels (answer only) and image tensors for one example."""
    import torch

    images = load_images(example, max_side)
    prompt = prompt_text(example, fmt)
    answer = example.target.answer_json() + fmt.turn_suffix
    encoded = processor(text=[prompt], images=[images], return_tensors="pt")
    prompt_ids = encoded["input_ids"][0]
    # The answer is tokenized on its own, as the model generates it after the prompt
    # (tokenizing prompt + answer together could merge tokens across the boundary).
    answer_ids = processor.tokenizer(answer, add_special_tokens=False, return_tensors="pt")[
        "input_ids"
    ][0]
    input_ids = torch.cat([prompt_ids, answer_ids])
    labels = torch.cat([torch.full_like(prompt_ids, IGNORE_INDEX), answer_ids])
    inputs: dict[str, Any] = {k: v for k, v in encoded.items() if k != "input_ids"}
    inputs["input_ids"] = input_ids.unsqueeze(0)
    inputs["labels"] = labels.unsqueeze(0)
    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    for key in ("mm_token_type_ids", "token_type_ids"):
        if key in inputs:  # per-token side inputs: the answer tokens are text (0)
            extra = torch.zeros((1, len(answer_ids)), dtype=inputs[key].dtype)
            inputs[key] = torch.cat([inputs[key], extra], dim=1)
    return EncodedExample(example.id, inputs, len(prompt_ids), len(answer_ids))


class EncodedExamples(Sequence[EncodedExample]):
    """All examples, checked up front (a missing photo fails before training starts) and
    kept encoded while they fit `cache_bytes`; beyond that they are encoded again when a
    step needs them. Image tensors are large (SmolVLM: ~3 MB per 512 px tile in float32),
    and re-encoding one costs milliseconds next to a training step."""

    def __init__(
        self,
        examples: list[Example],
        processor: Any,
        fmt: PromptFormat,
        max_side: int,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self._examples, self._processor, self._fmt, self._max_side = (
            examples, processor, fmt, max_side
        )  # fmt: skip
        self._cache: dict[int, EncodedExample] = {}
        self._cache_bytes = cache_bytes
        self._cached_bytes = 0
        self.prompt_tokens: list[int] = []
        self.answer_tokens: list[int] = []

    def check_all(self, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Encode every example once; False when stopped before the end."""
        for index in range(len(self._examples)):
            if should_stop():
                return False
            encoded = self._encode(index)
            self.prompt_tokens.append(encoded.prompt_tokens)
            self.answer_tokens.append(encoded.answer_tokens)
            size = sum(v.numel() * v.element_size() for v in encoded.inputs.values())
            if self._cached_bytes + size <= self._cache_bytes:
                self._cache[index] = encoded
                self._cached_bytes += size
        return True

    def _encode(self, index: int) -> EncodedExample:
        return encode(self._examples[index], self._processor, self._fmt, self._max_side)

    def __len__(self) -> int:
        return len(self._examples)

    @overload
    def __getitem__(self, index: int) -> EncodedExample: ...

    @overload
    def __getitem__(self, index: slice) -> list[EncodedExample]: ...

    def __getitem__(self, index: int | slice) -> EncodedExample | list[EncodedExample]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        cached = self._cache.get(index)
        return cached if cached is not None else self._encode(index)


def encode_all(
    examples: list[Example],
    processor: Any,
    fmt: PromptFormat,
    max_side: int,
    should_stop: Callable[[], bool] = lambda: False,
    cache_bytes: int = CACHE_BYTES,
) -> EncodedExamples:
    data = EncodedExamples(examples, processor, fmt, max_side, cache_bytes)
    data.check_all(should_stop)
    return data
