"""Fuzz: re-seeded random-weight variants of every fixture (one per catalog family, and a
tokenizer variant) caption real photos (512x512 PNGs) and a video with every prompt
template, in two languages and at several temperatures; each family also runs once with a
vocabulary respelled at fuzz time so that many pieces run over the end of a JSON answer
(tests.models.reseed.respell_vocab). Each model runs in its own process, so a native abort
in llama.cpp (the grammar accepting a token it rejects) is counted, not fatal to pytest.

The longer run: tests/benchmarks/bench_fuzz_engine.py.
"""

from __future__ import annotations

from models.prompts import builtin_prompts
from tests.models.conftest import CATALOG_FAMILY_FIXTURES, FUZZ_ARCHITECTURES
from tests.models.fuzz_runner import run_all

SEEDS = (11, 12)  # the two seeds start the language cycle at different languages
RESPELLED = tuple(f"{name}+respelled" for name in CATALOG_FAMILY_FIXTURES.values())


def test_no_native_abort_and_every_answer_parses() -> None:
    templates = len(builtin_prompts())
    plan = [(arch, seed, templates) for arch in FUZZ_ARCHITECTURES for seed in SEEDS]
    plan += [(arch, 13, templates) for arch in RESPELLED]
    tally = run_all(plan)
    assert not tally.aborts, [(b.arch, b.seed, b.returncode, b.stderr_tail) for b in tally.aborts]
    assert not tally.unparsed, tally.unparsed
    answers = [a for b in tally.batches for a in b.answers]
    assert len(answers) == len(plan) * templates
    for arch in (*FUZZ_ARCHITECTURES, *RESPELLED):
        mine = [a for b in tally.batches if b.arch == arch for a in b.answers]
        assert {a["template"] for a in mine} == set(builtin_prompts()), arch
        assert any(a["video"] for a in mine) and not all(a["video"] for a in mine), arch
    for arch in FUZZ_ARCHITECTURES:
        mine = [a for b in tally.batches if b.arch.partition("+")[0] == arch for a in b.answers]
        assert len({a["language"] for a in mine}) >= 2, arch
