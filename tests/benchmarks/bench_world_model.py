"""Caption quality, measured: the shapes-world model next to the random-weight fixture.

Run:  .venv/bin/python tests/benchmarks/bench_world_model.py [--photos 200] [--videos 30]

Both models caption the same held-out photos and videos of the shapes world (items the
world model never saw in training) through the app's own engine, `captionist caption
--json`, in one run. Printed per model:
- JSON parsed: the answer was a JSON object with a caption;
- shapes right: every shape named with its colour, nothing extra (bound: >= 90 %); and
  apart: the colours named right (whatever the shapes), the kinds of shape named right;
- positions right: ... and each with its position;
- tags F1 against the truth's tags (bound: >= 0.9);
- shapes right, placed anywhere: the same on photos of one or two shapes placed anywhere
  in the frame, not near the five anchors photos use (video shapes move anywhere: this
  is what a keyframe asks of the model);
- moments right: a video keyframe's moment names its scene's shapes, ±0.5 s around a
  cut counting either side (bound: >= 90 %), with the app's default of captioning each
  keyframe alone for its moment; and the same videos in one pass (the
  `moments_per_keyframe` setting off: one answer for all the keyframes), with the time
  each way took;
- per prompt template (short, detailed, alt-text, tags): shapes right and whether the
  answer has the template's shape (alt text <= 125 characters; the tags template's
  caption is three of the tags joined by commas).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from models.world.photos import ROAMING  # noqa: E402
from models.world.score import (  # noqa: E402
    moment_right,
    parse_answer,
    photo_averages,
    score_photo,
)
from models.world.truth import PhotoTruth, VideoTruth  # noqa: E402
from tests.world_support import (  # noqa: E402
    RANDOM_MODEL,
    WORLD_MODEL,
    Captioned,
    caption_files,
    write_heldout_photos,
    write_heldout_videos,
)

BOUNDS = {"shapes right": 0.9, "tags F1": 0.9, "moments right": 0.9, "JSON parsed": 1.0}
TEMPLATES = ("short", "detailed", "alt-text", "tags")


# The scorer's figures, under the names printed.
PHOTO_FIGURES = {
    "parsed": "JSON parsed",
    "shapes": "shapes right",
    "colours": "  colours right",
    "kinds": "  kinds of shape right",
    "positions": "positions right",
    "tags_f1": "tags F1",
}


def photo_figures(truths: Sequence[PhotoTruth], got: Sequence[Captioned]) -> dict[str, float]:
    averages = photo_averages(truths, [c.answer for c in got])
    return {label: averages[key] for key, label in PHOTO_FIGURES.items()}


def moment_figures(truths: Sequence[VideoTruth], got: Sequence[Captioned]) -> dict[str, float]:
    right = total = videos_parsed = 0
    for truth, c in zip(truths, got, strict=True):
        videos_parsed += c.error is None and bool(c.moments)
        for moment in c.moments:
            total += 1
            right += moment_right(truth, float(moment["timestamp"]), str(moment["caption"]))
    return {
        "moments right": right / max(1, total),
        "videos answered": videos_parsed / max(1, len(truths)),
        "moments": float(total),
    }


def template_shape(template: str, truth: PhotoTruth, answer: str) -> bool:
    parsed = parse_answer(answer)
    if parsed is None:
        return False
    caption = str(parsed.get("caption", ""))
    if template == "alt-text":
        return 0 < len(caption) <= 125
    if template == "tags":
        said = [t.strip() for t in caption.split(",")]
        return said == list(truth.tags[:3])
    return bool(caption)


def measure(model: Path, photos, roaming, videos, templates: int, data: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    started = time.monotonic()
    got = caption_files(data / "photos", model, [p for p, _ in photos])
    figures |= photo_figures([t for _, t in photos], got)
    figures["photo seconds"] = time.monotonic() - started
    got = caption_files(data / "roaming", model, [p for p, _ in roaming])
    figures["shapes right, placed anywhere"] = photo_figures([t for _, t in roaming], got)[
        "shapes right"
    ]
    started = time.monotonic()
    got_videos = caption_files(data / "videos", model, [p for p, _ in videos])
    figures |= moment_figures([t for _, t in videos], got_videos)
    figures["video seconds"] = time.monotonic() - started
    started = time.monotonic()
    one_pass = {"moments_per_keyframe": False}
    got_videos = caption_files(data / "one-pass", model, [p for p, _ in videos], settings=one_pass)
    figures["moments right, one pass"] = moment_figures([t for _, t in videos], got_videos)[
        "moments right"
    ]
    figures["video seconds, one pass"] = time.monotonic() - started
    sample = photos[:templates]
    for template in TEMPLATES:
        got = caption_files(data / template, model, [p for p, _ in sample], prompt=template)
        truths = [t for _, t in sample]
        figures[f"{template}: shapes right"] = sum(
            score_photo(t, c.answer).shapes for t, c in zip(truths, got, strict=True)
        ) / len(sample)
        figures[f"{template}: answer shape"] = sum(
            template_shape(template, t, c.answer) for t, c in zip(truths, got, strict=True)
        ) / len(sample)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--videos", type=int, default=30)
    ap.add_argument("--templates", type=int, default=40, help="photos per prompt template")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photos = write_heldout_photos(root / "world" / "photos", args.photos)
        roaming = write_heldout_photos(
            root / "world" / "roaming", args.photos // 2, options=ROAMING, start=10**6
        )
        videos = write_heldout_videos(root / "world" / "videos", args.videos)
        results = {
            name: measure(model, photos, roaming, videos, args.templates, root / name)
            for name, model in (("world model", WORLD_MODEL), ("random weights", RANDOM_MODEL))
        }
    print(f"{args.photos} held-out photos, {args.videos} held-out videos, `caption --json`")
    names = list(results)
    print(f"{'':34}" + "".join(f"{n:>16}" for n in names) + "  bound")
    for key in results[names[0]]:
        bound = BOUNDS.get(key)
        row = "".join(f"{results[n][key]:16.3f}" for n in names)
        mark = ""
        if bound is not None:
            mark = f"  >= {bound:.2f} " + ("met" if results[names[0]][key] >= bound else "NOT met")
        print(f"{key:34}{row}{mark}")


if __name__ == "__main__":
    main()
