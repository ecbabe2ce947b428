"""Runs fuzz batches (tests.models.fuzz_child), each in its own process, and counts:
a native abort in llama.cpp is a dead child (a signal or a non-zero exit with the
C++ message on stderr), never a dead pytest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Batch:
    arch: str
    seed: int
    returncode: int
    answers: list[dict[str, object]]
    stderr_tail: str

    @property
    def aborted(self) -> bool:
        return self.returncode != 0


@dataclass
class Tally:
    batches: list[Batch] = field(default_factory=list)

    @property
    def captions(self) -> int:
        return sum(len(b.answers) for b in self.batches)

    @property
    def aborts(self) -> list[Batch]:
        return [b for b in self.batches if b.aborted]

    @property
    def unparsed(self) -> list[dict[str, object]]:
        return [a for b in self.batches for a in b.answers if not a["parsed"]]


def run_batch(arch: str, seed: int, count: int, timeout: float = 600) -> Batch:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GGML_NO_BACKTRACE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.models.fuzz_child", arch, str(seed), str(count)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
    )
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return Batch(arch, seed, done.returncode, answers, done.stderr[-2000:])


def run_all(plan: Iterable[tuple[str, int, int]], parallel: int = 2) -> Tally:
    with ThreadPoolExecutor(parallel) as pool:
        batches = list(pool.map(lambda job: run_batch(*job), plan))
    return Tally(batches)
