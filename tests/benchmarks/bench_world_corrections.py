"""Learning from corrections, measured: does "fine-tune on my corrections" generalise?

Run:  .venv/bin/python tests/benchmarks/bench_world_corrections.py [--evaluated 100]

Two experiments with the shapes-world model (tests/world_corrections.py has the steps),
each through the product's own paths (caption in the library, the user's corrections,
`captionist finetune`, the worker captioning with the adapter):
1. rename: 25 held-out photos with circles corrected to say "disc" (20 trained, 5 held
   out by the fine-tune for its before/after scores). Bounds: "disc" in >= 80 % of the
   captions of other held-out photos with circles after (0 % before); shape-and-colour
   accuracy on the other photos drops by <= 5 points; BLEU-4 / ROUGE-L / CIDEr-D on the
   fine-tune's held-out corrections rise.
2. shiny: 25 photos whose shapes may carry a highlight, corrected to say "shiny".
   "shiny" in the captions of held-out photos with a highlight after (>= 80 %), and how
   often it is said of photos without one; per shape, among the shapes a caption names
   right, how often "shiny" is said of those with a highlight and of those without.
Printed side by side: each figure before and after, the fine-tune's held-out metrics,
and its wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.core.finetune.job import LORA_LAYERS  # noqa: E402
from tests.world_corrections import RENAME, SHINY, Settings, run, summary  # noqa: E402

BOUNDS = {
    "circle photos saying disc (after)": (">=", 0.8),
    "circle photos saying disc (before)": ("<=", 0.0),
    "shiny photos saying shiny (after)": (">=", 0.8),
}


def show(kind: str, result: dict) -> None:
    print(f"\n== {kind}: fine-tune took {result['finetune_minutes']:.1f} min")
    figures = result["figures"]
    for key in sorted({k.rsplit(" (", 1)[0] for k in figures}):
        before, after = figures[f"{key} (before)"], figures[f"{key} (after)"]
        notes = []
        for when, value in (("before", before), ("after", after)):
            bound = BOUNDS.get(f"{key} ({when})")
            if bound:
                ok = value >= bound[1] if bound[0] == ">=" else value <= bound[1]
                notes.append(f"{when} {bound[0]} {bound[1]:.2f} {'met' if ok else 'NOT met'}")
        print(f"  {key:40} {before:7.3f} -> {after:7.3f}   {'; '.join(notes)}")
    if kind == RENAME:
        drop = figures["other photos right (before)"] - figures["other photos right (after)"]
        print(f"  {'other photos: accuracy drop':40} {drop * 100:+7.1f} points   <= 5 "
              f"{'met' if drop <= 0.05 else 'NOT met'}")  # fmt: skip
    before, after = result["metrics_before"], result["metrics_after"]
    for key in sorted(before):
        rise = "rose" if after.get(key, 0) > before[key] else "did NOT rise"
        print(f"  held-out {key:31} {before[key]:7.3f} -> {after.get(key, 0):7.3f}   {rise}")
    print(f"  fine-tune loss, first and last step: {result['training_loss_first_last']}")
    if result["errors"]:
        print(f"  NOT captioned: {len(result['errors'])} ({result['errors'][0]})")
    for caption in result["examples"]:
        print(f"    after: {caption}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--evaluated", type=int, default=100, help="held-out photos, per experiment")
    ap.add_argument("--only", choices=(RENAME, SHINY))
    ap.add_argument("--json", action="store_true")
    defaults = Settings()
    ap.add_argument("--epochs", type=int, default=defaults.epochs)
    ap.add_argument("--rank", type=int, default=defaults.rank)
    ap.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    ap.add_argument("--layers", choices=sorted(LORA_LAYERS), default=defaults.layers)
    args = ap.parse_args()
    settings = Settings(
        evaluated=args.evaluated, epochs=args.epochs, rank=args.rank,
        learning_rate=args.learning_rate, layers=args.layers,
    )  # fmt: skip
    results = {}
    for kind in [args.only] if args.only else [RENAME, SHINY]:
        with tempfile.TemporaryDirectory() as tmp:
            results[kind] = summary(run(Path(tmp), kind, settings))
        show(kind, results[kind])
    print(f"\nLoRA rank {settings.rank} on {settings.layers} layers, {settings.epochs} epochs, "
          f"learning rate {settings.learning_rate}, {settings.corrected} corrections "
          "(20 trained)")  # fmt: skip
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
