"""Check the exported adapter in llama.cpp, and score captions before and after it.

Both go through `models.runtime.CaptionEngine`, the very engine the caption worker uses,
so "after" means what the user will get: the GGUF model, its mmproj, the GGUF LoRA, the
same prompt and JSON schema. Captions are greedy (temperature 0, no repeat penalty) so the
comparison is not a matter of sampling luck; they are scored with
`models.finetune.metrics.caption_scores` against the corrected captions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from models.answer import AnswerError
from models.catalog import load_catalog
from models.finetune.adapter_check import AdapterError, check_adapter
from models.finetune.events import Evaluated
from models.finetune.spec import Example, TrainingSpec
from models.prompts import AnswerLimits
from models.runtime import Cancelled, CaptionEngine, EngineConfig, EngineError, Sampling

log = logging.getLogger(__name__)
GREEDY = Sampling(temperature=0.0, top_p=1.0, repeat_penalty=1.0)
VERIFY = Sampling(
    temperature=0.0, top_p=1.0, repeat_penalty=1.0, limits=AnswerLimits(64, max_tags=3)
)
DEFAULT_N_CTX = 4096
# A model this small is all per-token overhead: a second thread only adds barrier waits,
# which on a busy CPU stretched a 0.05 s caption to 5-19 s.
ONE_THREAD_BELOW_BYTES = 50 * 1024 * 1024


class VerifyError(RuntimeError):
    """The exported adapter does not work in llama.cpp; the message says how."""


class EvaluationCancelled(Exception):
    pass


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    samples: list[dict[str, str]]

    def event(self, which: str) -> Evaluated:
        return Evaluated(which=which, metrics=self.metrics, samples=self.samples)


def engine_config(spec: TrainingSpec, adapter: Path | None) -> EngineConfig:
    """As the caption worker configures it for this model (context, image token cap)."""
    entry = load_catalog().get(spec.model_id)
    tiny = spec.base_gguf.is_file() and spec.base_gguf.stat().st_size < ONE_THREAD_BELOW_BYTES
    return EngineConfig(
        spec.base_gguf,
        spec.mmproj,
        model_id=spec.model_id,
        n_ctx=entry.context_size if entry else DEFAULT_N_CTX,
        image_max_tokens=entry.image_max_tokens if entry else None,
        lora_path=adapter,
        n_threads=1 if tiny else None,
    )


def caption(
    engine: CaptionEngine,
    example: Example,
    sampling: Sampling,
    should_stop: Callable[[], bool],
) -> str:
    images = [path.read_bytes() for path in example.images]
    result = engine.caption(
        images,
        example.prompt,
        language=example.language,
        exif_context=example.exif_context,
        timestamps=example.timestamps,
        sampling=sampling,
        should_stop=should_stop,
    )
    return result.answer.caption


def open_with_adapter(spec: TrainingSpec, adapter: Path) -> CaptionEngine:
    """The engine with the new adapter; raises VerifyError when llama.cpp cannot take it."""
    try:
        check_adapter(spec.base_gguf, adapter)
        return CaptionEngine(engine_config(spec, adapter))
    except (AdapterError, EngineError) as exc:
        raise VerifyError(f"the exported adapter does not load in llama.cpp: {exc}") from exc


def verify(engine: CaptionEngine, example: Example, should_stop: Callable[[], bool]) -> str:
    """A short real caption with the adapter and the mmproj: the whole path works."""
    try:
        return caption(engine, example, VERIFY, should_stop)
    except Cancelled:
        raise EvaluationCancelled() from None
    except (EngineError, AnswerError) as exc:
        raise VerifyError(f"llama.cpp could not caption with the new adapter: {exc}") from exc


def greedy(limits: AnswerLimits) -> Sampling:
    return replace(GREEDY, limits=limits)


def evaluate(
    engine: CaptionEngine,
    examples: Sequence[Example],
    should_stop: Callable[[], bool],
    sampling: Sampling = GREEDY,
) -> Evaluation:
    """Greedy captions of the held-out examples, scored against their corrections."""
    from models.finetune.metrics import caption_scores

    candidates: dict[str, str] = {}
    for example in examples:
        if should_stop():
            raise EvaluationCancelled()
        try:
            candidates[example.id] = caption(engine, example, sampling, should_stop)
        except Cancelled:
            raise EvaluationCancelled() from None
        except (EngineError, AnswerError, OSError) as exc:
            log.warning("held-out example %s could not be captioned: %s", example.id, exc)
            candidates[example.id] = ""  # counts as a wrong caption, not as a missing one
    references = {e.id: [e.target.caption] for e in examples}
    metrics = {k: round(v, 6) for k, v in caption_scores(references, candidates).items()}
    samples = [
        {"id": e.id, "reference": e.target.caption, "candidate": candidates[e.id]} for e in examples
    ]
    return Evaluation(metrics, samples)
