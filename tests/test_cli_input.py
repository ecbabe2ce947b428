"""The CLI's answers to what users type (issue 17): bad input is refused with one
sentence and an exit code (and, with --json, a JSON error object on stdout), any
file name prints, and `queue list|clear|retry` shows and fixes the queue."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.main import main
from app.core.jobs import PRIORITY_USER
from app.core.library.library import Library
from tests.media_factory import write_photo
from tests.test_cli_caption import MMPROJ, MODEL, configure

ROOT = Path(__file__).resolve().parents[1]
# Not UTF-8 (a Latin-1 é), with a newline and a tab in it: a name Linux allows.
ODD_NAME = b"caf\xe9\nnight\tout.jpg"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli(data: Path, *args: str | bytes) -> subprocess.CompletedProcess[bytes]:
    """As from a terminal under an ordinary UTF-8 locale (stdout strict UTF-8)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONIO"))}
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", PYTHONUTF8="0")
    return subprocess.run(
        [sys.executable, "main.py", "--data-dir", str(data), *args],
        cwd=ROOT,
        capture_output=True,
        env=env,
        timeout=240,
        check=False,
    )


@pytest.fixture
def library_with_photos(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "Pictures"
    for name in ("beach1.jpg", "beach2.jpg", "beach3.jpg"):
        write_photo(folder / name)
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "scan", str(folder)]) == 0
    return data, folder


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_search_refuses_a_limit_below_one(
    library_with_photos: tuple[Path, Path], capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    data, _ = library_with_photos
    capsys.readouterr()
    code, out, err = run(capsys, "--data-dir", str(data), "search", "beach*", "--limit", limit)
    assert code == 2
    assert "no matches" not in out
    assert "--limit must be 1 or more" in err

    code, out, _ = run(
        capsys, "--data-dir", str(data), "search", "beach*", "--limit", limit, "--json"
    )
    assert code == 2 and "--limit" in json.loads(out)["error"]


def test_search_takes_a_huge_limit(
    library_with_photos: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = library_with_photos
    capsys.readouterr()
    code, out, _ = run(
        capsys, "--data-dir", str(data), "search", "beach*", "--limit", str(10**30), "--json"
    )
    assert code == 0 and len(json.loads(out)) == 3


def test_caption_of_nothing_captionable_exits_nonzero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    configure(data).db.close()
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    model = ["--model-path", str(MODEL), "--mmproj", str(MMPROJ)]
    for given in (tmp_path, tmp_path / "missing.jpg", text):
        code, out, _ = run(capsys, "--data-dir", str(data), "caption", str(given), *model)
        assert code == 1, given
        assert "error:" in out

    code, out, _ = run(capsys, "--data-dir", str(data), "caption", str(text), *model, "--json")
    assert code == 1 and json.loads(out)[0]["error"]


def test_caption_refuses_an_unknown_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = write_photo(tmp_path / "a.jpg")
    model = ["--model-path", str(MODEL), "--mmproj", str(MMPROJ)]
    args = ["--data-dir", str(tmp_path / "data"), "caption", str(photo), *model]
    code, out, err = run(capsys, *args, "--prompt", "bogus")
    assert code == 2
    assert "unknown prompt 'bogus'" in err and "detailed" in err

    code, out, _ = run(capsys, *args, "--prompt", "bogus", "--json")
    assert code == 2 and "unknown prompt" in json.loads(out)["error"]


def test_caption_errors_in_json_mode_answer_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = write_photo(tmp_path / "a.jpg")
    data = str(tmp_path / "data")
    code, out, err = run(capsys, "--data-dir", data, "caption", str(photo), "--json")
    assert code == 3 and "no captioning model" in err
    assert json.loads(out) == {"error": err.strip().removeprefix("error: "), "exit_code": 3}

    code, out, _ = run(
        capsys, "--data-dir", data, "caption", str(photo), "--model-path", str(MODEL), "--json"
    )
    assert code == 2 and "--mmproj" in json.loads(out)["error"]


def test_odd_file_names_print_on_one_line_and_stay_lossless_in_json(tmp_path: Path) -> None:
    folder = tmp_path / "Pictures"
    folder.mkdir()
    odd = os.path.join(os.fsencode(folder), ODD_NAME)
    write_photo(Path(os.fsdecode(odd)))
    write_photo(folder / "plain night.jpg")
    data = tmp_path / "data"
    assert cli(data, "scan", str(folder)).returncode == 0

    found = cli(data, "search", "night")

    assert found.returncode == 0, found.stderr
    assert b"Traceback" not in found.stderr
    text = found.stdout.decode("utf-8")  # valid UTF-8 on a UTF-8 terminal
    shown = os.fsdecode(os.fsencode(folder)) + "/caf\\xe9\\nnight\\tout.jpg"
    assert shown in text.splitlines()  # one line, escaped, unambiguous

    as_json = cli(data, "search", "night", "--json")

    assert as_json.returncode == 0, as_json.stderr
    hits = json.loads(as_json.stdout.decode("utf-8"))  # strict: valid UTF-8 only
    by_bytes = {base64.b64decode(h["path_bytes"]) for h in hits if "path_bytes" in h}
    assert by_bytes == {odd}
    plain = next(h for h in hits if "path_bytes" not in h)
    assert plain["path"] == str(folder / "plain night.jpg")


def test_caption_prints_an_odd_file_name(tmp_path: Path) -> None:
    """It stored the caption, then crashed printing the name."""
    configure(tmp_path / "data").db.close()
    odd = os.path.join(os.fsencode(tmp_path), ODD_NAME)
    write_photo(Path(os.fsdecode(odd)))
    model = ["--model-path", str(MODEL), "--mmproj", str(MMPROJ)]

    made = cli(tmp_path / "data", "caption", odd, *model)

    assert made.returncode == 0, made.stderr
    assert b"Traceback" not in made.stderr
    first = made.stdout.decode("utf-8").splitlines()[0]
    assert first.endswith("/caf\\xe9\\nnight\\tout.jpg")


def test_queue_list_clear_and_retry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    library = configure(data)
    folder = tmp_path / "Pictures"
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_photo(folder / name)
    library.scan(library.add_root(folder).id)
    ids = _ids(library)
    asked = {"model_override": {"model": "x"}, "prompt": "tags"}
    library.jobs.enqueue([ids["a.jpg"]], priority=PRIORITY_USER, params=asked)
    failed = library.jobs.claim_next()
    assert failed is not None and failed.item_id == ids["a.jpg"]
    library.jobs.finish(failed.id, error="the model 'x' is not installed")
    library.jobs.enqueue([ids["b.jpg"]], priority=PRIORITY_USER, params=asked)
    base = ["--data-dir", str(data), "queue"]

    code, out, _ = run(capsys, *base, "list", "--json")

    listing = json.loads(out)
    assert code == 0 and (listing["queued"], listing["failed"]) == (2, 1)
    first = listing["jobs"][0]
    assert first["path"] == str(folder / "b.jpg") and first["model_override"] == {"model": "x"}
    assert [f["path"] for f in listing["failures"]] == [str(folder / "a.jpg")]
    assert "not installed" in listing["failures"][0]["error"]
    code, out, _ = run(capsys, *base, "list")
    assert "2 queued, 0 running, 1 failed" in out and "first" in out and "model_override" in out

    code, out, _ = run(capsys, *base, "clear")
    assert code == 0 and "cancelled 2" in out
    assert library.jobs.counts().get("queued", 0) == 0

    code, out, _ = run(capsys, *base, "retry", "--json")
    assert code == 0 and json.loads(out) == {"queued": 1, "unreadable": 0}
    with library.db.read() as conn:
        assert conn.exec_driver_sql(
            "SELECT item_id, priority FROM jobs WHERE state = 'queued'"
        ).all() == [(ids["a.jpg"], PRIORITY_USER)]
    library.db.close()


def _ids(library: Library) -> dict[str, int]:
    with library.db.read() as conn:
        return dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())


@pytest.fixture(autouse=True)
def _fresh_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAPTIONIST_DATA_DIR", raising=False)
