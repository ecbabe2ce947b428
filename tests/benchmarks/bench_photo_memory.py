"""Peak memory of preparing one huge photo for the model (load_for_model).

Run:  .venv/bin/python tests/benchmarks/bench_photo_memory.py [--size 17000] [--side 768]

Makes a --size x --size PNG (RGB, then RGBA) on the fly, streamed so that making it
costs a few MB, then prepares it in a fresh child process per measurement and prints
the child's peak RSS (ru_maxrss) and time:
  - baseline: the child's imports alone;
  - before: the previous pipeline (decode, ImageOps.exif_transpose, _to_rgb, resize),
    which held the decoded bitmap and a full-size copy of it;
  - now: load_for_model, which box-reduces band by band straight after decoding.
PNG cannot be decoded at a reduced scale (Pillow decodes it whole), so "now" holds
one full bitmap (4 bytes a pixel in Pillow) and nothing else at full size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.media_factory import write_large_png  # noqa: E402

CHILD = """
import json, resource, sys, time
from PIL import Image, ImageOps
from app.core.media import photo
path, side, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
started = time.perf_counter()
if how == "before":
    with Image.open(path) as im:
        im.load()
        out = photo._fit(photo._to_rgb(ImageOps.exif_transpose(im)), side)
elif how == "now":
    out = photo.load_for_model(path, max_side=side)
else:
    out = None
print(json.dumps({
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "seconds": time.perf_counter() - started,
    "size": list(out.size) if out is not None else None,
}))
"""


def measure(path: Path, side: int, how: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(side), how],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=17000)
    parser.add_argument("--side", type=int, default=768)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for colour_type, label in ((2, "RGB"), (6, "RGBA")):
            path = Path(tmp) / f"big-{label}.png"
            started = time.perf_counter()
            write_large_png(path, args.size, args.size, colour_type=colour_type)
            made = time.perf_counter() - started
            print(
                f"{args.size}x{args.size} {label} PNG ({path.stat().st_size / 1e6:.0f} MB on "
                f"disk, made in {made:.1f} s), prepared at {args.side} px:"
            )
            for how in ("baseline", "before", "now"):
                r = measure(path, args.side, how)
                print(f"  {how:<8} peak RSS {r['peak_mb']:7.0f} MB  {r['seconds']:6.2f} s")
            path.unlink()


if __name__ == "__main__":
    main()
