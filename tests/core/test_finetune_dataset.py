"""Training examples from corrections, built from real files exactly as the caption
worker would caption them (prepared images, prompt, language, answer shape)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

from app.core.captioning.prepare import prepare
from app.core.captions import CaptionStore
from app.core.datadir import DataDir
from app.core.finetune.corrections import list_training_corrections, set_excluded
from app.core.finetune.dataset import build_spec, prepare_dataset
from app.core.library.library import Library
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.media_factory import write_photo, write_truncated, write_video

SETTINGS = {"model_image_side": 96, "keyframes_per_video": 3, "caption_language": "French"}


def scan(library: Library, folder: Path) -> dict[str, int]:
    root = library.add_root(folder)
    library.scan(root.id)
    with library.db.read() as conn:
        return dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())


def configure(library: Library) -> None:
    for key, value in SETTINGS.items():
        library.settings.set(key, value)


def correct_photo(db: Database, item: int, text: str, prompt: str = "short") -> None:
    store_model_caption(db, item, "model words", ["x"], model_id="m", prompt_id=prompt)
    CaptionStore(db).add_user_caption(item, text, ["mine", "tags"])


def test_photo_example_is_what_the_worker_would_send(
    library: Library, data_dir: DataDir, photo_dir: Path, tmp_path: Path
) -> None:
    configure(library)
    library.settings.set("prompt_overrides", {"detailed": "Say it in {language}.{context}"})
    write_photo(photo_dir / "cat.jpg", "chelsea", exif_datetime="2024:05:03 14:22:01")
    items = scan(library, photo_dir)
    correct_photo(library.db, items["cat.jpg"], "a ginger cat on a rug", prompt="detailed")

    out = tmp_path / "job" / "images"
    data = prepare_dataset(
        library.db,
        list_training_corrections(library.db, holdout=0.0),
        images_dir=out,
        thumbnails=data_dir.thumbnails,
    )

    assert data.skipped == [] and data.heldout == [] and not data.cancelled
    (example,) = data.examples
    expected = prepare(
        items["cat.jpg"],
        os.fsencode(photo_dir / "cat.jpg"),
        "photo",
        thumbnails=data_dir.thumbnails,
        max_side=96,
        max_keyframes=3,
        with_exif_context=True,
    )
    assert example["id"] == f"item-{items['cat.jpg']}"
    assert [Path(p).read_bytes() for p in example["images"]] == expected.images
    assert all(Path(p).parent == out for p in example["images"])
    assert max(Image.open(io.BytesIO(expected.images[0])).size) == 96
    assert example["timestamps"] is None
    assert example["prompt"] == {
        "id": "detailed",
        "name": "Detailed description",
        "instruction": "Say it in {language}.{context}",
    }
    assert example["language"] == "French"
    assert example["exif_context"] == expected.exif_context == "taken 3 May 2024"
    assert example["target"] == {
        "caption": "a ginger cat on a rug",
        "tags": ["mine", "tags"],
        "language": "French",
    }


def test_a_video_with_moment_corrections_is_one_example(
    library: Library, data_dir: DataDir, photo_dir: Path, tmp_path: Path
) -> None:
    configure(library)
    write_video(photo_dir / "clip.avi", seconds=6.0, cuts=(2.0, 4.0))
    items = scan(library, photo_dir)
    video = items["clip.avi"]
    frames = prepare(
        video,
        os.fsencode(photo_dir / "clip.avi"),
        "video",
        thumbnails=data_dir.thumbnails,
        max_side=96,
        max_keyframes=3,
        with_exif_context=True,
    )
    assert frames.timestamps is not None and len(frames.timestamps) >= 2
    store = CaptionStore(library.db)
    keyframes = []
    for stamp in frames.timestamps:
        with library.db.write() as conn:
            keyframes.append(
                conn.exec_driver_sql(
                    "INSERT INTO keyframes (item_id, timestamp) VALUES (?, ?)", (video, stamp)
                ).lastrowid
            )
    store_model_caption(
        library.db,
        video,
        "colours change",
        ["video"],
        model_id="m",
        prompt_id="short",
        moments={k: f"model moment {n}" for n, k in enumerate(keyframes)},
    )
    # Two moments corrected, the item caption not: still one example for the video.
    store.add_user_caption(video, "red screen", keyframe_id=keyframes[0])
    store.add_user_caption(video, "green screen", keyframe_id=keyframes[1])

    data = prepare_dataset(
        library.db,
        list_training_corrections(library.db, holdout=0.0),
        images_dir=tmp_path / "images",
        thumbnails=data_dir.thumbnails,
    )

    (example,) = data.examples
    assert example["timestamps"] == frames.timestamps
    assert [Path(p).read_bytes() for p in example["images"]] == frames.images
    assert example["target"]["caption"] == "colours change"
    assert example["target"]["tags"] == ["video"]
    moments = ["red screen", "green screen"] + [
        f"model moment {n}" for n in range(2, len(frames.timestamps))
    ]
    assert example["target"]["moments"] == moments


def test_unusable_files_are_skipped_with_their_reason(
    library: Library, data_dir: DataDir, photo_dir: Path, tmp_path: Path
) -> None:
    configure(library)
    good = write_photo(photo_dir / "good.jpg")
    write_photo(photo_dir / "gone.jpg", "coffee")
    write_photo(photo_dir / "broken.jpg", "rocket")
    write_photo(photo_dir / "left-out.jpg", "cat")
    items = scan(library, photo_dir)
    for name, item in items.items():
        correct_photo(library.db, item, f"user caption of {name}")
    (photo_dir / "gone.jpg").unlink()
    write_truncated(photo_dir / "broken.jpg", good, keep=0.02)
    set_excluded(library.db, items["left-out.jpg"], None, True)

    data = prepare_dataset(
        library.db,
        list_training_corrections(library.db, holdout=0.0),
        images_dir=tmp_path / "images",
        thumbnails=data_dir.thumbnails,
    )

    assert [e["id"] for e in data.examples] == [f"item-{items['good.jpg']}"]
    reasons = {Path(s.path).name: s.reason for s in data.skipped}
    assert set(reasons) == {"gone.jpg", "broken.jpg"}
    assert "gone" in reasons["gone.jpg"]
    assert reasons["broken.jpg"]  # the decoder's words, whatever they are
    assert data.skipped[0].to_dict().keys() == {"item_id", "path", "reason"}


def test_held_out_items_go_to_evaluation_and_cancel_stops(
    library: Library, data_dir: DataDir, photo_dir: Path, tmp_path: Path
) -> None:
    configure(library)
    for n in range(8):
        write_photo(photo_dir / f"p{n}.jpg", size=(64, 48))
    items = scan(library, photo_dir)
    for item in items.values():
        correct_photo(library.db, item, f"caption {item}")
    rows = list_training_corrections(library.db, holdout=0.3)
    held = {f"item-{r.item_id}" for r in rows if r.heldout}

    data = prepare_dataset(
        library.db, rows, images_dir=tmp_path / "images", thumbnails=data_dir.thumbnails
    )
    assert {e["id"] for e in data.heldout} == held and held
    assert len(data.examples) + len(data.heldout) == 8

    calls = []
    stopped = prepare_dataset(
        library.db,
        rows,
        images_dir=tmp_path / "again",
        thumbnails=data_dir.thumbnails,
        should_cancel=lambda: len(calls) >= 2,
        on_item=lambda done, total: calls.append((done, total)),
    )
    assert stopped.cancelled and len(stopped.examples) + len(stopped.heldout) == 2


def test_the_spec_is_what_the_training_process_reads(
    library: Library, data_dir: DataDir, photo_dir: Path, tmp_path: Path
) -> None:
    from models.finetune.spec import TrainingSpec

    configure(library)
    for n in range(6):
        write_photo(photo_dir / f"p{n}.jpg", size=(64, 48))
    items = scan(library, photo_dir)
    for item in items.values():
        correct_photo(library.db, item, f"caption {item}")
    rows = list_training_corrections(library.db, holdout=0.2)
    data = prepare_dataset(
        library.db, rows, images_dir=tmp_path / "images", thumbnails=data_dir.thumbnails
    )
    text = build_spec(
        data,
        model_id="smolvlm2-256m",
        family="smolvlm2",
        base_weights_repo="HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
        base_weights_dir=None,
        cache_dir=tmp_path / "cache",
        base_gguf=tmp_path / "model.gguf",
        mmproj=tmp_path / "mmproj.gguf",
        output_dir=tmp_path / "adapters" / "smolvlm2-256m-v1",
        settings={
            "method": "auto",
            "lora": {"rank": 8, "alpha": 16, "dropout": 0.05, "target_modules": ["q_proj"]},
            "train": {"epochs": 2, "learning_rate": 1e-3, "seed": 0},
            "evaluate": True,
        },
    )
    spec = TrainingSpec.from_json(text)
    assert [e.id for e in spec.examples] == [e["id"] for e in data.examples]
    assert [e.id for e in spec.heldout] == [e["id"] for e in data.heldout]
    assert spec.examples[0].target.caption == data.examples[0]["target"]["caption"]
    assert spec.examples[0].images[0].is_file()
    assert (spec.lora.rank, spec.train.epochs, spec.evaluate) == (8, 2, True)
    assert spec.base_weights.local_dir is None and spec.family == "smolvlm2"
