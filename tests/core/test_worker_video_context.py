"""A video whose keyframes do not all fit the model's context is captioned from as many
as fit, never failed for it (found with a slideshow video and a tiny Qwen2.5-VL:
"llama.cpp failed while captioning (llama_decode returned 1)")."""

from __future__ import annotations

from pathlib import Path

from app.core.captioning.events import WorkerExit
from app.core.captions import CaptionStore
from app.core.datadir import DataDir
from app.core.library.library import Library
from models.prompts import AnswerLimits, builtin_prompts
from models.runtime import CaptionEngine, EngineConfig, Sampling
from tests.core.test_worker import item_id, run_worker, scan
from tests.media_factory import write_video
from tests.models.conftest import fixture_pair, jpeg_of

SLIDES = 16


def test_slideshow_video_is_captioned_from_the_keyframes_that_fit_the_context(
    library: Library, data_dir: DataDir, photo_dir: Path
) -> None:
    """16 slides, a 1,024-token context: the frames, the prompt and an answer with a
    moment per frame do not all fit (before: "llama_decode returned 1")."""
    model, mmproj = fixture_pair("qwen2_5_vl")
    for key, value in {
        "max_caption_tokens": 8,
        "temperature": 0.0,
        "keyframes_per_video": SLIDES,
        "model_image_side": 128,
    }.items():
        library.settings.set(key, value)
    write_video(
        photo_dir / "slides.avi",
        seconds=SLIDES * 0.5,
        fps=4,
        size=(160, 120),
        cuts=tuple(0.5 * i for i in range(1, SLIDES)),
    )
    scan(library, photo_dir)
    small_context = {"model_path": str(model), "mmproj_path": str(mmproj), "n_ctx": 1024}

    code, events = run_worker(data_dir, override=small_context)

    assert code == WorkerExit.DONE
    assert [e for e in events if e["event"] == "failed"] == []
    (finished,) = [e for e in events if e["event"] == "finished"]
    assert 1 <= finished["frames"] < SLIDES  # the event says how many frames the model saw
    video = item_id(library, "slides.avi")
    store = CaptionStore(library.db)
    assert store.current(video) is not None
    with library.db.read() as conn:
        keyframes = [
            r[0]
            for r in conn.exec_driver_sql("SELECT id FROM keyframes WHERE item_id = ?", (video,))
        ]
    # The keyframes kept are the ones the model saw, each with its moment's caption.
    assert len(keyframes) == finished["frames"]
    assert all(store.current(video, k) is not None for k in keyframes)


def test_engine_picks_frames_spread_over_the_video_that_fit_a_small_context() -> None:
    model, mmproj = fixture_pair("qwen2_5_vl")
    images = [jpeg_of(p, 128) for p in ("astronaut", "coffee", "chelsea", "rocket")] * 4
    stamps = [float(i) for i in range(len(images))]
    template = builtin_prompts()["short"]
    sampling = Sampling(temperature=0.0, limits=AnswerLimits(caption_chars=32, max_tags=2))
    with CaptionEngine(EngineConfig(model, mmproj, n_ctx=1024, n_threads=1)) as engine:
        # All 16 frames ask more of a 1,024-token context than it holds.
        assert engine.image_cells(images[0]) * len(images) + 16 * 126 > engine.n_ctx
        chosen = engine.frames_that_fit(images, stamps, template, sampling=sampling)
        assert 1 <= len(chosen) < len(images)
        assert chosen[0] == 0 and chosen[-1] == len(images) - 1 and chosen == sorted(chosen)
        result = engine.caption(
            [images[i] for i in chosen],
            template,
            timestamps=[stamps[i] for i in chosen],
            sampling=sampling,
        )
    assert len(result.answer.moments) == len(chosen)
