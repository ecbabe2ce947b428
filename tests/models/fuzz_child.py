"""One fuzz batch in its own process: `python -m tests.models.fuzz_child ARCH SEED CASES`.

ARCH is a fixture name (tests/fixtures/models/<name>), optionally with `+respelled`: its
vocabulary then also gets new spellings that run over the end of a JSON answer
(tests.models.reseed.respell_vocab), a tokenizer variant made at fuzz time.

Loads a re-seeded variant of a tiny fixture (tests.models.reseed) and captions
photos and a keyframed video with every prompt template and several languages,
printing one JSON line per caption as soon as it is done. A native abort inside
llama.cpp kills only this process; the parent sees the signal and the lines so far.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.core.captioning.prepare import ModelInput

os.environ.setdefault("GGML_NO_BACKTRACE", "1")

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
LANGUAGES = ("English", "German", "Japanese")
TEMPERATURES = (0.0, 0.7, 1.3)


def cases(count: int, seed: int) -> list[dict[str, object]]:
    """`count` cases: every template in turn, each round of templates in another
    language; every third case the video, the others a photo."""
    from models.prompts import builtin_prompts

    templates = sorted(builtin_prompts())
    return [
        {
            "template": templates[i % len(templates)],
            "language": LANGUAGES[(i // len(templates) + seed) % len(LANGUAGES)],
            "video": i % 3 == 2,
            "photo": PHOTOS[(i + seed) % len(PHOTOS)],
            "temperature": TEMPERATURES[(i + seed) % len(TEMPERATURES)],
        }
        for i in range(count)
    ]


def _media(folder: Path) -> dict[str, ModelInput]:
    """Each photo as a 512x512 PNG and a 3-scene video, prepared as the worker does."""
    from app.core.captioning.prepare import prepare
    from tests.media_factory import write_photo, write_video

    files = {name: write_photo(folder / f"{name}.png", name, size=(512, 512)) for name in PHOTOS}
    files["video"] = write_video(folder / "clip.avi", seconds=3.0, cuts=(1.0, 2.0))
    return {
        name: prepare(
            i,
            bytes(path),
            "video" if name == "video" else "photo",
            thumbnails=folder / "thumbnails",
            max_side=384,
            max_keyframes=4,
            with_exif_context=False,
        )
        for i, (name, path) in enumerate(files.items())
    }


def main(arch: str, seed: int, count: int) -> None:
    from models.answer import AnswerError
    from models.prompts import AnswerLimits, builtin_prompts
    from models.runtime import CaptionEngine, EngineConfig, Sampling
    from tests.models.conftest import fixture_pair
    from tests.models.reseed import reseeded_pair, respell_vocab

    templates = builtin_prompts()
    limits = AnswerLimits(caption_chars=int(os.environ.get("FUZZ_CAPTION_CHARS", "64")), max_tags=4)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fixture, _, variant = arch.partition("+")
        model, mmproj = reseeded_pair(*fixture_pair(fixture), folder / "model", seed)
        if variant == "respelled":
            model = respell_vocab(model, folder / "model" / "respelled.gguf", seed)
        elif variant:
            raise SystemExit(f"unknown fuzz variant {variant!r}")
        media = _media(folder)
        config = EngineConfig(model, mmproj, model_id=arch, n_ctx=4096, n_threads=1, seed=seed)
        with CaptionEngine(config) as engine:
            for case in cases(count, seed):
                temperature = float(case["temperature"])  # type: ignore[arg-type]
                sampling = Sampling(temperature=temperature, limits=limits)
                template = templates[str(case["template"])]
                given = media["video" if case["video"] else str(case["photo"])]
                if given.timestamps is not None:
                    given = given.keeping(
                        engine.frames_that_fit(given.images, given.timestamps, template)
                    )
                try:
                    result = engine.caption(
                        given.images,
                        template,
                        language=str(case["language"]),
                        timestamps=given.timestamps,
                        sampling=sampling,
                    )
                    outcome: dict[str, object] = {
                        "parsed": True,
                        "complete": result.answer.complete,
                    }
                except AnswerError as exc:
                    outcome = {"parsed": False, "error": str(exc)}
                print(json.dumps({**case, **outcome}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
