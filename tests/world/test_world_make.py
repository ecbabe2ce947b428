"""`python -m models.world.make`: files, truth.jsonl, the split, reading the truth back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from models.answer import parse_answer
from models.world.make import main, read_truth
from models.world.split import HELDOUT, TRAIN, split_of

ROOT = Path(__file__).resolve().parents[2]


def test_the_split_is_stable_and_about_a_fifth() -> None:
    splits = [split_of(7, "photo", i) for i in range(1000)]
    assert splits == [split_of(7, "photo", i) for i in range(1000)]
    assert set(splits) == {TRAIN, HELDOUT}
    assert 0.15 <= splits.count(HELDOUT) / 1000 <= 0.25
    assert splits != [split_of(8, "photo", i) for i in range(1000)]
    assert {split_of(7, "photo", i, heldout=0.0) for i in range(50)} == {TRAIN}


def test_make_writes_files_and_truth(tmp_path: Path) -> None:
    assert (
        main(["--out", str(tmp_path / "a"), "--photos", "12", "--videos", "1", "--seed", "3"]) == 0
    )
    lines = (tmp_path / "a" / "truth.jsonl").read_text().splitlines()
    assert len(lines) == 13
    items = read_truth(tmp_path / "a")
    for line, truth in zip(lines, items, strict=True):
        record = json.loads(line)
        assert (tmp_path / "a" / truth.file).stat().st_size > 0
        assert truth.to_dict() == {k: v for k, v in record.items() if k != "answer"}
        assert (
            parse_answer(record["answer"], moments=len(record.get("scenes", []))).caption
            == truth.caption
        )
        assert truth.split == split_of(3, truth.kind, int(truth.id.split("-")[1]))
    assert [t.kind for t in items] == ["photo"] * 12 + ["video"]
    assert json.loads((tmp_path / "a" / "world.json").read_text())["seed"] == 3


def test_the_command_line_is_reproducible(tmp_path: Path) -> None:
    for name in ("a", "b"):
        subprocess.run(
            [sys.executable, "-m", "models.world.make", "--out", str(tmp_path / name),
             "--photos", "6", "--videos", "1", "--seed", "5"],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert len(files) == 6 + 1 + 2
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
