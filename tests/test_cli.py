"""The CLI contract: names, exit codes and JSON fields other tools rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.main import main
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.media_factory import write_photo, write_video

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    folder = tmp_path / "Pictures"
    write_photo(folder / "2024" / "astronaut.jpg")
    write_photo(folder / "coffee.png", "coffee")
    write_video(folder / "clip.avi", cuts=(1.0,))
    (folder / "notes.jpg").write_text("not a photo")
    return folder


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def test_scan_prints_counts_and_errors_and_exits_zero(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    code, out = run(capsys, "--data-dir", data, "scan", str(tree))
    assert code == 0
    assert "4 new, 0 changed, 0 moved, 0 missing, 1 errors" in out
    assert "notes.jpg: not an image" in out
    code, out = run(capsys, "--data-dir", data, "scan", str(tree))
    assert "0 new, 0 changed, 0 moved, 0 missing, 0 errors" in out

    code, out = run(capsys, "--data-dir", data, "status", "--json")
    status = json.loads(out)
    assert status["items"] == 4 and status["errors"] == 1 and status["queued"] == 3
    assert status["photos"] == 3 and status["videos"] == 1


def test_unusable_arguments_exit_nonzero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--data-dir", str(tmp_path / "d"), "scan", str(tmp_path / "nope")])
    assert code == 2
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["search"])
    assert exc.value.code == 2


def test_search_json_fields(tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    run(capsys, "--data-dir", str(data), "scan", str(tree))
    db = Database(data / "library.db")
    try:
        with db.read() as conn:
            video = conn.exec_driver_sql("SELECT id FROM media_items WHERE kind='video'").scalar()
            kf = None
        with db.write() as conn:
            kf = conn.exec_driver_sql(
                "INSERT INTO keyframes (item_id, timestamp) VALUES (?, 1.5)", (video,)
            ).lastrowid
        # The worker captions the whole video with its moments; only the moment has a kite.
        store_model_caption(
            db, video, "a green field", ["field"], moments={kf: "green field with a kite"}
        )
    finally:
        db.close()
    code, out = run(capsys, "--data-dir", str(data), "search", "kite", "--json")
    hits = json.loads(out)
    assert code == 0 and len(hits) == 1
    assert {"path", "snippet", "score", "timestamp"} <= hits[0].keys()
    assert hits[0]["path"].endswith("clip.avi") and hits[0]["timestamp"] == 1.5
    code, out = run(
        capsys, "--data-dir", str(data), "search", "astronaut", "--json", "--limit", "5"
    )
    (hit,) = json.loads(out)
    assert hit["timestamp"] is None and "[astronaut]" in hit["snippet"]
    code, out = run(capsys, "--data-dir", str(data), "search", "zebra")
    assert code == 0 and "no matches" in out


def test_main_py_runs_as_a_program(tree: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "main.py", "--data-dir", str(tmp_path / "d"), "scan", str(tree)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "4 new" in result.stdout


def test_a_command_logs_to_the_data_folder_and_warns_of_a_network_drive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.cli.main as cli_main

    data = tmp_path / "data"
    monkeypatch.setattr(cli_main, "network_warning", lambda root: "on nfs4, move it")
    code = main(["--data-dir", str(data), "status"])
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("warning: on nfs4, move it") == 1
    assert "on nfs4, move it" in (data / "logs" / "captionist.log").read_text(encoding="utf-8")


def test_a_local_library_gets_no_network_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(tmp_path / "data"), "status"]) == 0
    assert "network drive" not in capsys.readouterr().err
