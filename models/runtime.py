"""The captioning engine: a multimodal GGUF model and its mmproj in llama.cpp.

One `CaptionEngine` keeps the model loaded between captions (loading is the slow
part); `close()` must always be called, since freeing the multimodal context at
interpreter exit can raise. A native crash (GGML_ASSERT, out of memory) kills the
whole process, which is why the app only ever runs this in a worker process.
"""

from __future__ import annotations

import base64
import ctypes
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from models.answer import CaptionAnswer, parse_answer
from models.finetune.adapter_check import AdapterError, check_adapter
from models.gguf_pair import PairError, check_pair
from models.hardware import llama_supports_gpu_offload, physical_cores
from models.prompts import (
    TAG_MAX_CHARS,
    AnswerLimits,
    PromptTemplate,
    answer_schema,
    build_messages,
    string_budgets,
)
from models.string_budget import JsonStringBudget, VocabularyShape

GPU_ALL_LAYERS = -1
TEXT_RESERVE_TOKENS = 512  # prompt text around the images
# The chat template's own tokens around the message (role names, turn markers) that a
# tokenization of the message's text parts alone does not see.
CHAT_MARKUP_TOKENS = 48


class EngineError(Exception):
    """The engine cannot do what was asked; the message is for the user."""


class Cancelled(Exception):
    """Generation stopped because the caller asked to stop."""


@dataclass(frozen=True)
class EngineConfig:
    model_path: Path
    mmproj_path: Path
    model_id: str = "custom"
    n_ctx: int = 4096
    # None: every layer on the GPU when this llama.cpp build can offload, else CPU.
    n_gpu_layers: int | None = None
    n_threads: int | None = None  # None: the physical cores
    image_max_tokens: int | None = None  # cap on what one image costs in the context
    seed: int = 0
    # A GGUF LoRA adapter (from "Fine-tune on my corrections") applied over the model.
    lora_path: Path | None = None
    lora_scale: float = 1.0


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.9
    repeat_penalty: float = 1.05  # see app.core.settings: answers repeat by design
    limits: AnswerLimits = AnswerLimits()
    # False: no logits processor of ours in llama.cpp's sampler chain (the safe mode a
    # file gets after the engine crashed on it twice): strings are bounded only by
    # max_tokens (a cut-off answer is salvaged) and cancelling waits for the answer.
    string_budget: bool = True

    def safe(self) -> Sampling:
        """The same limits, greedy, without our logits processor."""
        return replace(self, temperature=0.0, string_budget=False)


@dataclass(frozen=True)
class CaptionResult:
    answer: CaptionAnswer
    # Context positions the prompt used (Qwen-VL's M-RoPE gives an image fewer
    # positions than it has tokens, so this is not a token count there).
    prompt_tokens: int
    completion_tokens: int
    seconds: float


def spread(total: int, count: int) -> list[int]:
    """`count` of `total` indices, evenly spaced, the first and the last among them."""
    if count >= total:
        return list(range(total))
    if count == 1:
        return [0]
    return sorted({round(i * (total - 1) / (count - 1)) for i in range(count)})


# llama-cpp-python's JSON-schema-to-grammar port lets any character but `"` and `\` into
# a string: raw control characters (byte-fallback tokens: \x04, a raw newline), which
# JSON forbids there, and a caption of nothing but such characters or blanks, which
# passes `minLength: 1` and is empty once cleaned ("the model returned an empty
# caption"). llama.cpp's own converter excludes \x00-\x1F and \x7F; we do too, and make
# the first character of every non-empty string (caption, tags, moments) visible: no
# blank (ASCII or Unicode space, zero-width or C1 control) and no escape but \" \\ \/.
# llama.cpp's grammar decodes UTF-8 leniently: byte-fallback tokens such as 0xFF 0x9E
# 0x91 0xB0 pass as one "character" above U+10FFFF, and UTF-16 surrogates pass too, but
# the text comes back without them (llama-cpp-python drops invalid UTF-8); so neither
# may be a string character. (Overlong encodings, e.g. 0xC1 0xA1 for "a", still pass:
# the grammar sees "a". Such a caption can still come back empty.)
NOT_UTF8 = r"\uD800-\uDFFF\U00110000-\U7FFFFFFF"
STRICT_CHAR_RULE = (
    rf'char ::= [^"\\\x7F\x00-\x1F{NOT_UTF8}] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] '
    r"[0-9a-fA-F] [0-9a-fA-F])"
)
VISIBLE_CHAR_RULE = (
    r'visible-char ::= [^"\\\x00-\x20\x7F-\xA0\u1680\u180E\u2000-\u200F'
    rf'\u2028-\u202F\u205F-\u206F\u3000\uFEFF{NOT_UTF8}] | "\\" ["\\/]'
)


def answer_grammar(limits: AnswerLimits, moments: int = 0) -> str:
    """The GBNF grammar of the answer schema (as llama-cpp-python writes it for
    `response_format`), with strict JSON string characters and a visible first one."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    gbnf = json_schema_to_gbnf(json.dumps(answer_schema(limits, moments)))
    gbnf, replaced = re.subn(r"^char ::= .*$", lambda _: STRICT_CHAR_RULE, gbnf, flags=re.M)
    if replaced != 1:
        raise EngineError("unexpected grammar from llama-cpp-python: no `char` rule")
    gbnf = gbnf.replace('"\\"" char+ "\\""', '"\\"" visible-char char* "\\""')
    return gbnf + "\n" + VISIBLE_CHAR_RULE + "\n"


def jpeg_data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


log = logging.getLogger(__name__)
GGML_LOG_WARN = 3
_mtmd_log_callback: Any = None  # kept referenced: llama.cpp holds a raw pointer to it


def _route_mtmd_logs_to_logging() -> None:
    """mtmd prints every image slice to stderr even with verbose=False; send its
    lines to Python logging instead (warnings and errors stay visible)."""
    global _mtmd_log_callback
    if _mtmd_log_callback is not None:
        return
    import llama_cpp
    from llama_cpp import mtmd_cpp

    def forward(level: int, text: bytes, _user: Any) -> None:
        # ~40 lines per image: leave the chatter undecoded unless someone listens.
        python_level = logging.WARNING if level >= GGML_LOG_WARN else logging.DEBUG
        if not log.isEnabledFor(python_level):
            return
        message = text.decode("utf-8", "replace").rstrip()
        if message:
            log.log(python_level, "%s", message)

    _mtmd_log_callback = llama_cpp.llama_log_callback(forward)
    mtmd_cpp.mtmd_log_set(_mtmd_log_callback, None)
    mtmd_cpp.mtmd_helper_log_set(_mtmd_log_callback, None)


class _ParamsWithImageBudget:
    """Stands in for llama_cpp.mtmd_cpp inside the chat handler so that the default
    context parameters it asks for carry our `image_max_tokens`; the stock handler
    has no argument for it."""

    def __init__(self, module: ModuleType, image_max_tokens: int) -> None:
        self._module = module
        self._image_max_tokens = image_max_tokens

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def mtmd_context_params_default(self) -> Any:
        params = self._module.mtmd_context_params_default()
        params.image_max_tokens = self._image_max_tokens
        return params


def _check_gguf(path: Path, what: str) -> None:
    if not path.is_file():
        raise EngineError(f"the {what} file is missing: {path}")
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise EngineError(
                f"the {what} file is not a GGUF model (corrupt or wrong file): {path}"
            )


class CaptionEngine:
    def __init__(self, config: EngineConfig) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import MTMDChatHandler

        _route_mtmd_logs_to_logging()
        _check_gguf(config.model_path, "model")
        _check_gguf(config.mmproj_path, "vision projector (mmproj)")
        try:
            check_pair(config.model_path, config.mmproj_path)
        except PairError as exc:
            raise EngineError(str(exc)) from exc
        if config.lora_path is not None:
            _check_gguf(config.lora_path, "LoRA adapter")
            # llama-cpp-python does not raise for a bad adapter (ignored, or a native
            # crash): check it against the model first.
            try:
                check_adapter(config.model_path, config.lora_path)
            except AdapterError as exc:
                raise EngineError(str(exc)) from exc
        self.config = config
        offload = llama_supports_gpu_offload()
        layers = config.n_gpu_layers
        self.n_gpu_layers = (GPU_ALL_LAYERS if offload else 0) if layers is None else layers
        started = time.perf_counter()
        handler = MTMDChatHandler(
            clip_model_path=str(config.mmproj_path),
            verbose=False,
            use_gpu=offload and self.n_gpu_layers != 0,
        )
        if config.image_max_tokens:
            handler._mtmd_cpp = _ParamsWithImageBudget(  # type: ignore[assignment]  # a proxy of the module
                handler._mtmd_cpp, config.image_max_tokens
            )
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(config.model_path),
                chat_handler=handler,
                n_ctx=config.n_ctx,
                n_gpu_layers=self.n_gpu_layers,
                n_threads=config.n_threads or physical_cores(),
                seed=config.seed,
                lora_path=str(config.lora_path) if config.lora_path else None,
                lora_scale=config.lora_scale,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            what = "the model with its LoRA adapter" if config.lora_path else "the model"
            raise EngineError(f"llama.cpp could not load {what} ({exc})") from exc
        try:
            # The handler loads the mmproj lazily; do it now, so that a projector that
            # does not belong to this model fails here, not on the first photo.
            handler._init_mtmd_context(self._llm)
        except (ValueError, RuntimeError) as exc:
            self._llm.close()
            raise EngineError(
                "the vision projector (mmproj) could not be loaded with this model; "
                f"it probably belongs to another model ({exc})"
            ) from exc
        self.load_seconds = time.perf_counter() - started
        self._pieces: dict[int, str] = {}
        self._vocabulary_shape: VocabularyShape | None = None

    def _piece(self, token: int) -> str:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._llm.detokenize([token]).decode("utf-8", "replace")
            self._pieces[token] = piece
        return piece

    def _vocabulary(self) -> VocabularyShape:
        if self._vocabulary_shape is None:  # once per model: one pass over the vocabulary
            import llama_cpp

            vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
            self._vocabulary_shape = VocabularyShape(
                self._piece,
                self._llm.n_vocab(),
                ends_generation=lambda t: bool(llama_cpp.llama_vocab_is_eog(vocab, t)),
            )
        return self._vocabulary_shape

    @property
    def n_ctx(self) -> int:
        return self._llm.n_ctx()

    def image_cells(self, image: bytes) -> int:
        """Context cells (KV cache slots) one image takes, with the tokens mtmd puts
        around it. Not its positions: Qwen-VL's M-RoPE gives an image fewer positions
        than cells, and llama.cpp's own prompt checks count positions."""
        handler = self._llm.chat_handler
        mtmd = handler._mtmd_cpp  # type: ignore[union-attr]  # always our MTMDChatHandler
        bitmap = handler._create_bitmap_from_bytes(image)  # type: ignore[union-attr]  # as above
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            marker = mtmd.mtmd_default_marker()
            text = mtmd.mtmd_input_text()
            text.text, text.text_len = marker, len(marker)
            text.add_special, text.parse_special = False, True
            bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
            ctx = handler.mtmd_ctx  # type: ignore[union-attr]  # as above
            if mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(text), bitmaps, 1) != 0:
                raise EngineError("llama.cpp could not read a video frame")
            return sum(
                int(mtmd.mtmd_input_chunk_get_n_tokens(mtmd.mtmd_input_chunks_get(chunks, i)))
                for i in range(mtmd.mtmd_input_chunks_size(chunks))
            )
        finally:
            mtmd.mtmd_input_chunks_free(chunks)
            mtmd.mtmd_bitmap_free(bitmap)

    def _text_cells(self, messages: list[dict[str, Any]]) -> int:
        texts = [
            part["text"]
            for message in messages
            for part in message["content"]
            if part.get("type") == "text"
        ]
        tokens = sum(
            len(self._llm.tokenize(t.encode(), add_bos=False, special=True)) for t in texts
        )
        return tokens + CHAT_MARKUP_TOKENS

    def frames_that_fit(
        self,
        images: Sequence[bytes],
        timestamps: Sequence[float],
        template: PromptTemplate,
        *,
        language: str = "English",
        sampling: Sampling = Sampling(),
    ) -> list[int]:
        """Which of a video's keyframes to send (indices, in time order) so that the
        frames, the prompt and the longest answer for that many moments fit the
        model's context: all of them when they fit, else as many as fit, spread
        over the video (the first and the last kept). Never fewer than one."""
        cells = [self.image_cells(image) for image in images]

        def fits(chosen: list[int]) -> bool:
            messages = build_messages(
                template,
                ["" for _ in chosen],
                language=language,
                timestamps=[timestamps[i] for i in chosen],
            )
            needed = (
                self._text_cells(messages)
                + sum(cells[i] for i in chosen)
                + sampling.limits.max_tokens(len(chosen))
            )
            return needed <= self.n_ctx

        for count in range(len(images), 1, -1):
            chosen = spread(len(images), count)
            if fits(chosen):
                return chosen
        return [0]

    def caption(
        self,
        images: Sequence[bytes],
        template: PromptTemplate,
        *,
        language: str = "English",
        exif_context: str | None = None,
        timestamps: Sequence[float] | None = None,
        sampling: Sampling = Sampling(),
        should_stop: Callable[[], bool] = lambda: False,
    ) -> CaptionResult:
        """Caption one photo (one image) or one video (its keyframes with timestamps),
        in one pass. Raises Cancelled, EngineError or models.answer.AnswerError."""
        if not images:
            raise EngineError("nothing to caption: no image")
        moments = len(images) if timestamps is not None else 0
        urls = [jpeg_data_uri(i) for i in images]
        messages = build_messages(
            template,
            urls,
            language=language,
            exif_context=exif_context,
            timestamps=timestamps,
        )
        # llama.cpp caps the answer by the prompt's positions, not its context cells:
        # with M-RoPE the answer could run past the context ("llama_decode returned 1").
        prompt_cells = self._text_cells(messages) + sum(self.image_cells(i) for i in images)
        max_tokens = min(sampling.limits.max_tokens(moments), self.n_ctx - prompt_cells)
        if max_tokens < 1:
            raise EngineError(
                f"the images do not fit the model's context ({prompt_cells} tokens, "
                f"{self.n_ctx} available): use a model with a larger context, or a "
                "smaller image size in Settings"
            )
        started = time.perf_counter()
        from llama_cpp import LogitsProcessorList
        from llama_cpp.llama_grammar import LlamaGrammar

        budget = JsonStringBudget(
            self._piece,
            self._vocabulary(),
            budget_for=string_budgets(sampling.limits),
            default_budget=TAG_MAX_CHARS,
            should_stop=should_stop,
        )
        try:
            completion = self._llm.create_chat_completion(
                messages=messages,  # type: ignore[arg-type]  # plain dicts, not its TypedDicts
                grammar=LlamaGrammar.from_string(
                    answer_grammar(sampling.limits, moments), verbose=False
                ),
                max_tokens=max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                repeat_penalty=sampling.repeat_penalty,
                seed=self.config.seed,
                logits_processor=LogitsProcessorList([budget]) if sampling.string_budget else None,
            )
        except ValueError as exc:
            # The handler checks the context for text; an image chunk that overflows
            # it surfaces as a failed chunk (no KV cache slot left).
            if "exceeds n_ctx" in str(exc) or "Failed to evaluate chunk" in str(exc):
                raise EngineError(
                    f"the images do not fit the model's context ({exc}); use fewer keyframes"
                ) from exc
            raise EngineError(f"llama.cpp failed ({exc})") from exc
        except RuntimeError as exc:  # llama_decode failing, e.g. out of memory on the GPU
            raise EngineError(f"llama.cpp failed while captioning ({exc})") from exc
        if budget.stopped:
            raise Cancelled()
        usage = completion["usage"]  # type: ignore[index]  # not streamed: a dict, not an iterator
        return CaptionResult(
            answer=parse_answer(
                completion["choices"][0]["message"]["content"] or "",  # type: ignore[index]  # as above
                moments=moments,
            ),
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            seconds=time.perf_counter() - started,
        )

    def close(self) -> None:
        # Forgets the model (a second close, or __del__ after close, finds none).
        llm = self.__dict__.pop("_llm", None)
        if llm is not None:
            llm.close()

    def __enter__(self) -> CaptionEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
