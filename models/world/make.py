"""Write a shapes world to a folder: the files and their truth.

    python -m models.world.make --out DIR --photos N --videos M --seed S

writes DIR/photos/photo-NNNNNN.{png,jpg}, DIR/videos/video-NNNNNN.mp4, DIR/truth.jsonl
(one item a line: its truth, split and the engine's JSON answer for it) and
DIR/world.json (how it was made). The same arguments give the same files: PNG, JPEG and
truth byte for byte (tests/models/test_world.py checks it); the .mp4 as OpenCV's encoder
writes it. A video's "answer" has one moment per scene, at the scene's middle; for
training, render it again at the keyframes the app extracts
(`models.world.truth.answer_json(truth, times=...)`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

from models.world.photos import Photo, PhotoOptions, make_photo
from models.world.split import HELDOUT_FRACTION, split_of
from models.world.truth import PhotoTruth, VideoTruth, answer_json, from_dict
from models.world.videos import Video, VideoOptions, make_video

WORLD_VERSION = 1
TRUTH_FILE = "truth.jsonl"
MANIFEST_FILE = "world.json"


def items(
    seed: int,
    photos: int,
    videos: int,
    *,
    heldout: float = HELDOUT_FRACTION,
    photo_options: PhotoOptions | None = None,
    video_options: VideoOptions | None = None,
) -> Iterator[Photo | Video]:
    """Each photo, then each video."""
    for index in range(photos):
        photo = make_photo(
            seed, index, photo_options, split=split_of(seed, "photo", index, heldout)
        )
        yield photo
    for index in range(videos):
        video = make_video(
            seed, index, video_options, split=split_of(seed, "video", index, heldout)
        )
        yield video


def write_world(
    out: Path,
    seed: int,
    photos: int,
    videos: int,
    *,
    heldout: float = HELDOUT_FRACTION,
    photo_options: PhotoOptions | None = None,
    video_options: VideoOptions | None = None,
) -> list[PhotoTruth | VideoTruth]:
    photo_options = photo_options or PhotoOptions()
    video_options = video_options or VideoOptions()
    (out / "photos").mkdir(parents=True, exist_ok=True)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    written: list[PhotoTruth | VideoTruth] = []
    with (out / TRUTH_FILE).open("w", encoding="utf-8") as lines:
        for item in items(
            seed,
            photos,
            videos,
            heldout=heldout,
            photo_options=photo_options,
            video_options=video_options,
        ):
            truth = item.truth
            if isinstance(item, Photo):
                (out / truth.file).write_bytes(item.encoded())
            else:
                item.write(out / truth.file)
            record = truth.to_dict() | {"answer": answer_json(truth)}
            lines.write(json.dumps(record, ensure_ascii=False) + "\n")
            written.append(truth)
    manifest = {
        "version": WORLD_VERSION,
        "seed": seed,
        "photos": photos,
        "videos": videos,
        "heldout": heldout,
        "photo_options": asdict(photo_options),
        "video_options": asdict(video_options),
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return written


def read_truth(folder: Path) -> list[PhotoTruth | VideoTruth]:
    """The items of a world written by `write_world`, in order."""
    text = (folder / TRUTH_FILE).read_text(encoding="utf-8")
    return [from_dict(json.loads(line)) for line in text.splitlines() if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m models.world.make", description="Write a shapes world to a folder."
    )
    parser.add_argument("--out", type=Path, required=True, help="the folder to write")
    parser.add_argument("--photos", type=int, default=100, help="how many photos")
    parser.add_argument("--videos", type=int, default=0, help="how many videos")
    parser.add_argument("--seed", type=int, default=0, help="the world's seed")
    parser.add_argument(
        "--heldout", type=float, default=HELDOUT_FRACTION, help="share of held-out items"
    )
    parser.add_argument(
        "--shiny-rate",
        type=float,
        default=0.0,
        help="chance a shape is drawn shiny (0 in the base distribution)",
    )
    args = parser.parse_args(argv)
    if min(args.photos, args.videos, args.seed) < 0 or not 0.0 <= args.heldout <= 1.0:
        parser.error("counts and seed must be >= 0, --heldout within 0..1")
    written = write_world(
        args.out,
        args.seed,
        args.photos,
        args.videos,
        heldout=args.heldout,
        photo_options=PhotoOptions(shiny_rate=args.shiny_rate),
        video_options=VideoOptions(shiny_rate=args.shiny_rate),
    )
    heldout = sum(1 for t in written if t.split == "heldout")
    print(f"wrote {len(written)} items ({heldout} held out) to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
