"""Longer engine fuzz run: many re-seeded random-weight models of every fixture (one per
catalog family, and the tokenizer variants), each also with its vocabulary respelled at
fuzz time (pieces that run over the end of a JSON answer), caption photos and a video
(tests.models.fuzz_child), each model in its own process; prints how many captions ran,
native aborts, and unparsed answers per architecture.

    PYTHONPATH=. python tests/benchmarks/bench_fuzz_engine.py [--seeds 20] [--cases 12]
        [--arch smolvlm --arch gemma3+respelled ...]

FUZZ_CAPTION_CHARS (default 64) sets the caption budget; small values (4, 8) push the
string-budget logits processor to its edge, where it once made llama.cpp abort.
Exit status 1 when anything aborted or failed to parse.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.models.conftest import FUZZ_ARCHITECTURES  # noqa: E402
from tests.models.fuzz_runner import run_all  # noqa: E402

ALL = (*FUZZ_ARCHITECTURES, *(f"{name}+respelled" for name in FUZZ_ARCHITECTURES))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--arch", action="append", choices=ALL, help="default: all")
    args = parser.parse_args()
    architectures = args.arch or ALL
    started = time.perf_counter()
    plan = [(arch, 100 + s, args.cases) for arch in architectures for s in range(args.seeds)]
    tally = run_all(plan, parallel=args.parallel)
    for arch in architectures:
        mine = [b for b in tally.batches if b.arch == arch]
        print(
            f"{arch}: {len(mine)} models, {sum(len(b.answers) for b in mine)} captions, "
            f"{sum(b.aborted for b in mine)} native aborts, "
            f"{sum(not a['parsed'] for b in mine for a in b.answers)} unparsed, "
            f"{sum(not a.get('complete', True) for b in mine for a in b.answers)} cut off"
        )
    for b in tally.aborts:
        print(f"ABORT {b.arch} seed {b.seed} exit {b.returncode}: {b.stderr_tail[-300:]}")
    for b in tally.batches:
        for a in b.answers:
            if not a["parsed"]:
                print(f"UNPARSED {b.arch} seed {b.seed}: {a}")
    print(
        f"total: {tally.captions} captions, {len(tally.aborts)} aborts, "
        f"{len(tally.unparsed)} unparsed, {time.perf_counter() - started:.0f} s"
    )
    return 1 if tally.aborts or tally.unparsed else 0


if __name__ == "__main__":
    sys.exit(main())
