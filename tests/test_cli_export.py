"""`captionist export`: options, exit codes, summary on stdout (or JSON), progress on
stderr, existing files kept without --overwrite, interrupt (see tests/core/test_export.py
for the formats themselves)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from app.cli.main import main
from app.core.datadir import DataDir
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.core.test_export import add_file


@pytest.fixture
def captioned(db: Database, data_dir: DataDir, tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    for n, text in enumerate(["a red bicycle", "ein blaues Fahrrad", "a quiet harbour"]):
        store_model_caption(db, add_file(db, root, f"f/{n}.jpg".encode()), text, ["t"])
    return root


def export(capsys: pytest.CaptureFixture[str], data_dir: DataDir, *args: str) -> tuple[int, str]:
    code = main(["--data-dir", str(data_dir.root), "export", *args])
    out, err = capsys.readouterr()
    return code, out


def test_export_txt_with_query_and_summary(captioned, data_dir, tmp_path, capsys) -> None:
    out = tmp_path / "kohya"
    code, text = export(
        capsys, data_dir, "--format", "txt", "--out", str(out), "--trigger", "zz", "--tags",
        "after", "Fahrrad OR bicycle",
    )  # fmt: skip
    assert code == 0 and "exported 2 captions in 2 files" in text
    assert (out / "f/0.txt").read_text() == "zz, a red bicycle, t\n"
    assert not (out / "f/2.txt").exists()
    code, text = export(capsys, data_dir, "--format", "txt", "--out", str(out), "--json")
    summary = json.loads(text)
    assert code == 1 and summary["kept"] == 2 and summary["files"] == 1
    assert {p["path"] for p in summary["kept_paths"]} == {
        os.fsdecode(out / "f/0.txt"),
        os.fsdecode(out / "f/1.txt"),
    }
    assert (out / "f/0.txt").read_text() == "zz, a red bicycle, t\n"  # kept as it was
    code, _ = export(capsys, data_dir, "--format", "txt", "--out", str(out), "--overwrite")
    assert code == 0 and (out / "f/0.txt").read_text() == "a red bicycle\n"


def test_export_single_files_refuse_to_overwrite(captioned, data_dir, tmp_path, capsys) -> None:
    target = tmp_path / "all.csv"
    code, text = export(capsys, data_dir, "--format", "csv", "--out", str(target))
    assert code == 0 and "exported 3 captions to" in text
    with open(target, newline="", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == 3
    code, text = export(capsys, data_dir, "--format", "csv", "--out", str(target), "--json")
    assert code == 1 and "exists" in json.loads(text)["error"]
    code, text = export(capsys, data_dir, "--format", "jsonl", "--out", str(tmp_path / "hf"),
                        "--copy-images", "--json")  # fmt: skip
    summary = json.loads(text)
    assert code == 0 and summary["images"] == 3
    assert summary["output"]["path"] == os.fsdecode(tmp_path / "hf/metadata.jsonl")


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "csv"],
        ["--format", "jsonl", "--beside"],
        ["--format", "txt", "--beside", "--copy-images"],
        ["--format", "txt", "--out", "x", "--include-review"],
        ["--format", "csv", "--out", "x", "--video-frames"],
        ["--format", "html", "--out", "x", "--copy-images"],
        ["--format", "txt", "--out", "x", "--view", "by_me", "bicycle"],
        ["--format", "txt", "--out", "x", "--item", "/no/such/file.jpg"],
        ["--format", "txt", "--out", "x", "--item", "999999"],
    ],
)
def test_unusable_options_exit_2(captioned, data_dir, capsys, args: list[str]) -> None:
    code, _ = export(capsys, data_dir, *args)
    assert code == 2


def test_interrupt_stops_between_files(captioned, data_dir, tmp_path, capsys, monkeypatch) -> None:
    from app.cli.output import Interrupt

    monkeypatch.setattr(Interrupt, "__call__", lambda self: True)
    monkeypatch.setattr(Interrupt, "exit_code", property(lambda self: 130))
    code, text = export(capsys, data_dir, "--format", "jsonl", "--out", str(tmp_path / "j"))
    assert code == 130 and "nothing written" in text
    assert not (tmp_path / "j" / "metadata.jsonl").exists()


def test_export_a_view_or_named_items(captioned, data_dir, db, tmp_path, capsys) -> None:
    from app.core.captions import CaptionStore

    with db.read() as conn:
        rows = dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())
    CaptionStore(db).add_user_caption(rows["1.jpg"], "my own words", [])
    code, text = export(capsys, data_dir, "--format", "txt", "--out", str(tmp_path / "mine"),
                        "--view", "by_me")  # fmt: skip
    assert code == 0 and "exported 1 caption in 1 file" in text
    assert (tmp_path / "mine/f/1.txt").read_text() == "my own words\n"
    out = tmp_path / "picked"
    picked = ["--item", str(rows["0.jpg"]), "--item", str(captioned / "f/2.jpg")]
    code, text = export(capsys, data_dir, "--format", "html", "--out", str(out), *picked)
    assert code == 0 and "exported 2 captions to" in text
    page = (out / "alt-text.html").read_text(encoding="utf-8")
    assert 'alt="a red bicycle"' in page and 'alt="a quiet harbour"' in page
    assert "Fahrrad" not in page
