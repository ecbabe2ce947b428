"""Text embeddings of captions and queries with a GGUF embedding model run by llama.cpp.

`TextEmbedder` lives only in the worker (or a separate embedder) process: a native abort in
llama.cpp kills its process, and loading llama.cpp into the GUI costs memory and start-up.

What llama.cpp decides, not us: the pooling (mean, CLS or last token) comes from the GGUF's
metadata (the context is created with pooling "unspecified"), and so do the special tokens
that frame a text (BERT's [CLS] … [SEP], Qwen3's closing EOS).

The batch path packs many texts into one `llama_decode`, each as its own sequence; with
llama.cpp's per-sequence attention masks that gives the same vectors as one text at a time
(tests/models/test_embedding.py checks it), just faster. It reads the pooled vectors straight
into numpy instead of through Python lists (`Llama.embed` does the latter).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from models.errors import EmbeddingError

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["EmbeddingError", "EmbeddingPrompts", "TextEmbedder", "model_identity"]

FloatArray = npt.NDArray[np.float32]

# C0/C1 control characters other than tab and newline: they carry no meaning for a caption
# and some tokenizers turn each into a byte token of its own.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Tokenizing a megabyte only to keep the first n_ctx tokens is wasted time; no tokenizer we
# know makes a token of more than a few dozen characters, so this cap never changes a vector.
_CHARS_PER_TOKEN_CAP = 32
_IDENTITY_BYTES = 1 << 20
# Texts packed into one decode share its attention, which llama.cpp computes densely over the
# whole batch (masked per sequence): its cost grows with the square of the batch's tokens.
# Measured on the tiny BERT fixture, 2,000 captions of ~40 tokens: packs of 128 / 256 / 512
# tokens took 1.4 / 1.7 / 3.4 s of decoding. Bigger packs only save per-decode overhead, which
# a real model's weights dwarf. A text longer than this still goes alone, up to the context.
PACK_TOKENS = 256


@dataclass(frozen=True)
class EmbeddingPrompts:
    """The model's documented instructions, put in front of the text it embeds."""

    query_prefix: str = ""  # prepended to a search query
    document_prefix: str = ""  # prepended to each caption text


def model_identity(path: str | os.PathLike[str]) -> str:
    """A stable identity of a GGUF's weights: name, size and sha256 of the first MiB.

    Vectors of different models must never be compared; hashing the whole file (hundreds of
    MB) at every start would cost seconds, and the first MiB holds the metadata and the
    first tensors, which differ between any two models and any two quantizations.
    """
    source = Path(path)
    digest = hashlib.sha256()
    with source.open("rb") as file:
        digest.update(file.read(_IDENTITY_BYTES))
    return f"{source.name}:{source.stat().st_size}:{digest.hexdigest()[:16]}"


class TextEmbedder:
    """A text-embedding GGUF run by llama-cpp-python (`Llama(..., embedding=True)`).

    Lives only in the worker / embedder process. Not thread-safe: one caller at a time.
    Every text gets a vector (unit length, float32); nothing a user can type makes it raise.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        prompts: EmbeddingPrompts = EmbeddingPrompts(),
        n_ctx: int = 512,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
    ) -> None:
        import llama_cpp

        self._api = llama_cpp
        self._path = Path(model_path)
        self._prompts = prompts
        _check_file(self._path)
        self._model_id = model_identity(self._path)
        self._llm = _load(self._path, n_ctx, n_threads, n_gpu_layers)
        try:
            self._setup()
        except BaseException:
            self._llm.close()
            raise
        # One batch of our own (not the Llama object's private one), reused for every decode.
        self._batch = llama_cpp.llama_batch_init(self._max_tokens, 0, self._max_sequences)
        self._closed = False

    def _setup(self) -> None:
        api, llm = self._api, self._llm
        if api.llama_pooling_type(llm.ctx) == api.LLAMA_POOLING_TYPE_NONE:
            raise EmbeddingError(
                f"{self._path.name} is not a text-embedding model (its GGUF names no pooling); "
                "choose an embedding model from the catalog."
            )
        self._dimension = int(api.llama_model_n_embd_out(llm.model))
        # A decode may not run past the positions the model was trained on (BERT's position
        # table has exactly that many rows), nor past one ubatch: non-causal attention sees
        # a whole batch at once, and llama.cpp aborts the process (GGML_ASSERT) otherwise.
        # llama.cpp rounds a small n_ctx up (64 -> 256) but not the batch sizes, so n_ctx
        # alone is not the limit.
        self._max_tokens = min(
            llm.n_ctx(),
            llm.n_batch,
            int(llm.context_params.n_ubatch),
            int(api.llama_model_n_ctx_train(llm.model)),
        )
        self._max_sequences = int(llm.context_params.n_seq_max)
        vocab = api.llama_model_get_vocab(llm.model)
        self._adds_eos = bool(api.llama_vocab_get_add_eos(vocab))
        bos, eos = int(api.llama_vocab_bos(vocab)), int(api.llama_vocab_eos(vocab))
        self._fallback_token = bos if bos >= 0 else max(eos, 0)

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def prompts(self) -> EmbeddingPrompts:
        return self._prompts

    def embed_documents(self, texts: Sequence[str]) -> FloatArray:
        """(len(texts), dimension) float32, unit rows; the document prefix is applied."""
        prefix = self._prompts.document_prefix
        return self._embed([prefix + text for text in texts])

    def embed_query(self, text: str) -> FloatArray:
        """(dimension,) float32, unit length; the query prefix is applied."""
        result: FloatArray = self._embed([self._prompts.query_prefix + text])[0]
        return result

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._api.llama_batch_free(self._batch)
        self._llm.close()

    def __enter__(self) -> TextEmbedder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the work ---------------------------------------------------------------------------

    def _embed(self, texts: list[str]) -> FloatArray:
        if self._closed:
            raise EmbeddingError("The embedding model was closed; load it again.")
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        tokenized = [self._tokens(text) for text in texts]
        for rows in self._packs(tokenized):
            self._decode([tokenized[row] for row in rows])
            for seq, row in enumerate(rows):
                pointer = self._api.llama_get_embeddings_seq(self._llm.ctx, seq)
                if not pointer:
                    raise EmbeddingError(f"{self._path.name} gave no vector for a text.")
                out[row] = np.ctypeslib.as_array(pointer, shape=(self._dimension,))
        return _normalised(out)

    def _tokens(self, text: str) -> list[int]:
        text = _clean(text[: self._max_tokens * _CHARS_PER_TOKEN_CAP]) or " "
        tokens: list[int] = self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        if len(tokens) > self._max_tokens:
            # Keep the closing special token (BERT's [SEP], Qwen3's EOS): the model's pooling
            # was trained on texts that end with it.
            keep = self._max_tokens - 1 if self._adds_eos else self._max_tokens
            tokens = tokens[:keep] + (tokens[-1:] if self._adds_eos else [])
        return tokens or [self._fallback_token]

    def _packs(self, tokenized: list[list[int]]) -> Iterator[list[int]]:
        """Rows of texts to decode together: up to PACK_TOKENS tokens and the sequence limit."""
        budget = min(PACK_TOKENS, self._max_tokens)
        pack: list[int] = []
        used = 0
        for row, tokens in enumerate(tokenized):
            if pack and (used + len(tokens) > budget or len(pack) >= self._max_sequences):
                yield pack
                pack, used = [], 0
            pack.append(row)
            used += len(tokens)
        if pack:
            yield pack

    def _decode(self, sequences: list[list[int]]) -> None:
        api, batch = self._api, self._batch
        index = 0
        for seq, tokens in enumerate(sequences):
            for position, token in enumerate(tokens):
                batch.token[index] = token
                batch.pos[index] = position
                batch.n_seq_id[index] = 1
                batch.seq_id[index][0] = seq
                batch.logits[index] = 1  # every token is an output: pooling reads them all
                index += 1
        batch.n_tokens = index
        memory = api.llama_get_memory(self._llm.ctx)
        if memory:  # decoder-based embedders keep a KV cache; a text must not see the last one
            api.llama_memory_clear(memory, True)
        status = api.llama_decode(self._llm.ctx, batch)
        if status != 0:
            raise EmbeddingError(
                f"{self._path.name} could not embed a batch (llama.cpp status {status})."
            )


def _clean(text: str) -> str:
    # A lone surrogate cannot be encoded as UTF-8; it becomes "?" instead of an exception.
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub(" ", text)


def _normalised(vectors: FloatArray) -> FloatArray:
    vectors = np.nan_to_num(vectors, nan=0.0, posinf=0.0, neginf=0.0)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # A zero row (never seen from a real model) stays zero rather than becoming NaN.
    result: FloatArray = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    return result


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise EmbeddingError(f"The embedding model file is missing: {path}")
    try:
        with path.open("rb") as file:
            magic = file.read(4)
    except OSError as exc:
        raise EmbeddingError(f"The embedding model file cannot be read: {path} ({exc})") from exc
    if magic != b"GGUF":
        raise EmbeddingError(
            f"The embedding model file is not a GGUF model (corrupt or wrong file): {path}"
        )


def _load(path: Path, n_ctx: int, n_threads: int | None, n_gpu_layers: int) -> Llama:
    from llama_cpp import Llama

    threads: dict[str, Any] = {}
    if n_threads is not None:
        # Embedding is all prompt processing, which runs on the batch threads.
        threads = {"n_threads": n_threads, "n_threads_batch": n_threads}
    try:
        return Llama(
            model_path=str(path),
            embedding=True,
            n_ctx=n_ctx,
            # A whole text must fit one ubatch (non-causal attention), and a decode packs
            # as many texts as fill the context.
            n_batch=n_ctx,
            n_ubatch=n_ctx,
            n_gpu_layers=n_gpu_layers,
            verbose=False,
            **threads,
        )
    except Exception as exc:  # llama-cpp-python raises ValueError, RuntimeError, OSError …
        raise EmbeddingError(
            f"The embedding model {path.name} could not be loaded (corrupt, incomplete, or "
            f"made for a newer llama.cpp): {exc}"
        ) from exc
