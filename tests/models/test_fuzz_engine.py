"""Fuzz: re-seeded random-weight variants of each fixture architecture caption real
photos (512x512 PNGs) and a video with every prompt template, in two languages and
at several temperatures. Each model runs in its own process, so a native abort in
llama.cpp (the grammar accepting a token it rejects) is counted, not fatal to pytest.

The longer run: tests/benchmarks/bench_fuzz_engine.py.
"""

from __future__ import annotations

from models.prompts import builtin_prompts
from tests.models.conftest import ARCHITECTURES
from tests.models.fuzz_runner import run_all

SEEDS = (11, 12)  # the two seeds start the language cycle at different languages


def test_no_native_abort_and_every_answer_parses() -> None:
    templates = len(builtin_prompts())
    tally = run_all([(arch, seed, templates) for arch in ARCHITECTURES for seed in SEEDS])
    assert not tally.aborts, [(b.arch, b.seed, b.returncode, b.stderr_tail) for b in tally.aborts]
    assert not tally.unparsed, tally.unparsed
    answers = [a for b in tally.batches for a in b.answers]
    assert len(answers) == len(ARCHITECTURES) * len(SEEDS) * templates
    for arch in ARCHITECTURES:
        mine = [a for b in tally.batches if b.arch == arch for a in b.answers]
        assert {a["template"] for a in mine} == set(builtin_prompts())
        assert len({a["language"] for a in mine}) >= 2
        assert any(a["video"] for a in mine) and not all(a["video"] for a in mine)
