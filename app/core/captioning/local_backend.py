"""The in-process llama.cpp engine as a caption backend ("this computer"), so the
pool (app/core/captioning/pool.py) can use it beside inference servers.

One slot: llama.cpp's context serves one sequence at a time, so calls are serialised
by a lock (the pool starts one thread per slot anyway; the lock keeps a second
caller from corrupting the context). It keeps `frames_that_fit`: only the engine
knows its context size and how many cells an image costs, so a video is trimmed to
the keyframes that fit before it is sent, as the serial worker does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from models.prompts import PromptTemplate
from models.runtime import CaptionEngine, CaptionResult, Sampling

THIS_COMPUTER = "this computer"


class LocalBackend:
    """A CaptionBackend over a loaded CaptionEngine (which it closes)."""

    is_local = True  # its captions record no server in their provenance

    def __init__(
        self, engine: CaptionEngine, *, adapter_id: str | None = None, name: str = THIS_COMPUTER
    ) -> None:
        self._engine = engine
        self._name = name
        self.adapter_id = adapter_id  # the fine-tuned adapter loaded into the engine
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def model_id(self) -> str:
        return self._engine.config.model_id

    @property
    def slots(self) -> int:
        return 1

    def supports_adapter(self, adapter_id: str) -> bool:
        """Only the adapter it was loaded with: another needs a reload (a new backend)."""
        return adapter_id == self.adapter_id

    def frames_that_fit(
        self,
        images: Sequence[bytes],
        timestamps: Sequence[float],
        template: PromptTemplate,
        *,
        language: str = "English",
        sampling: Sampling = Sampling(),  # noqa: B008  # frozen: shared safely
    ) -> list[int]:
        with self._lock:
            return self._engine.frames_that_fit(
                images, timestamps, template, language=language, sampling=sampling
            )

    def caption(
        self,
        images: Sequence[bytes],
        template: PromptTemplate,
        *,
        language: str = "English",
        exif_context: str | None = None,
        timestamps: Sequence[float] | None = None,
        sampling: Sampling = Sampling(),  # noqa: B008  # frozen: shared safely
        should_stop: Callable[[], bool] = lambda: False,
        adapter: str | None = None,  # only ever its own (supports_adapter); applied at load
    ) -> CaptionResult:
        with self._lock:
            return self._engine.caption(
                images,
                template,
                language=language,
                exif_context=exif_context,
                timestamps=timestamps,
                sampling=sampling,
                should_stop=should_stop,
            )

    def close(self) -> None:
        with self._lock:
            self._engine.close()
