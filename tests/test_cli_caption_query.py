"""`captionist caption --query Q` / `--all`: what a search finds is queued to be
captioned again, with the prompt and model in the jobs, behind "Caption this"; the
user's own captions stay current. Queue-only runs need no model; one run captions
with the tiny SmolVLM fixture through a real worker process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.cli.main import main
from app.core.captioning.events import WorkerExit
from app.core.captions import CaptionStore
from app.core.datadir import DataDir
from app.core.jobs import PRIORITY_BULK, PRIORITY_USER, JobQueue
from app.core.settings import Settings
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.core.test_export import add_file
from tests.media_factory import write_photo
from tests.models.conftest import fixture_pair

Items = dict[str, int]


@pytest.fixture
def items(db: Database, tmp_path: Path) -> Items:
    """Three items; "rocket" finds two, one of them captioned by the user."""
    root = tmp_path / "lib"
    made = {name: add_file(db, root, name.encode()) for name in ("a.jpg", "b.jpg", "c.jpg")}
    store_model_caption(db, made["a.jpg"], "a rocket on the pad")
    store_model_caption(db, made["b.jpg"], "a cup of coffee")
    CaptionStore(db).add_user_caption(made["b.jpg"], "espresso before the rocket launch")
    store_model_caption(db, made["c.jpg"], "a quiet harbour")
    return made


def caption(
    capsys: pytest.CaptureFixture[str], data_dir: DataDir, *args: str
) -> tuple[int, str, str]:
    code = main(["--data-dir", str(data_dir.root), "caption", *args])
    out, err = capsys.readouterr()
    return code, out, err


def open_jobs(db: Database, ids: list[int]) -> dict[int, tuple[int, Any]]:
    return {i: (j.priority, j.params) for i, j in JobQueue(db).open_jobs(ids).items()}


def test_query_queue_only_queues_what_the_search_finds(
    items: Items, db: Database, data_dir: DataDir, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = caption(
        capsys, data_dir, "--query", "rocket", "--prompt", "detailed", "--queue-only", "--json"
    )

    assert code == 0
    summary = json.loads(out)
    assert summary["queued"] == 2 and summary["user_captioned"] == 1
    assert summary["prompt"] == "detailed" and summary["kept_user_captions"] is True
    assert summary["model"] is None  # none installed: the jobs wait for one
    wanted = (PRIORITY_BULK, {"prompt": "detailed"})
    assert open_jobs(db, list(items.values())) == {
        items["a.jpg"]: wanted,
        items["b.jpg"]: wanted,
    }
    assert PRIORITY_BULK < PRIORITY_USER  # "Caption this" still goes first
    current = CaptionStore(db).current(items["b.jpg"])
    assert current is not None and current.source == "user"
    assert main(["--data-dir", str(data_dir.root), "queue", "list"]) == 0
    listed = capsys.readouterr().out
    assert "queued   again" in listed and "[prompt: detailed]" in listed


def test_all_queue_only_says_how_many_and_that_the_users_captions_stay(
    items: Items, db: Database, data_dir: DataDir, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = caption(capsys, data_dir, "--all", "--prompt", "tags", "--queue-only")

    assert code == 0
    assert "queued 3 items in the library to caption again with the prompt 'Tags only'" in out
    assert "1 item of them has a caption you wrote: kept as the current caption" in out
    assert set(open_jobs(db, list(items.values()))) == set(items.values())


def test_a_model_that_is_not_installed_queues_nothing(
    items: Items, db: Database, data_dir: DataDir, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = caption(
        capsys, data_dir, "--query", "rocket", "--model", "no-such-model", "--queue-only"
    )

    assert code == WorkerExit.NO_MODEL
    assert "no-such-model" in err and "not installed" in err
    assert open_jobs(db, list(items.values())) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to caption: give files or folders, or --query Q / --all"),
        (["--query", "  "], "an empty --query finds nothing: use --all"),
        (["x.jpg", "--query", "rocket"], "give files or --query/--all, not both"),
        (["x.jpg", "--queue-only"], "--queue-only goes with --query or --all"),
        (["--query", "rocket", "--prompt", "haiku"], "unknown prompt 'haiku'"),
    ],
)
def test_unusable_arguments_exit_2_and_queue_nothing(
    items: Items,
    db: Database,
    data_dir: DataDir,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    code, _, err = caption(capsys, data_dir, *args)

    assert code == 2 and message in err
    assert open_jobs(db, list(items.values())) == {}


def test_query_and_all_together_are_refused(
    data_dir: DataDir, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        caption(capsys, data_dir, "--query", "rocket", "--all")
    assert exit_.value.code == 2


def test_query_runs_the_worker_until_captioned_and_keeps_the_users_caption(
    data_dir: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real photos, a real worker process, the tiny model named in the jobs."""
    model, mmproj = fixture_pair("smolvlm")
    folder = tmp_path / "photos"
    write_photo(folder / "astronaut.jpg")
    write_photo(folder / "coffee.jpg", "coffee")
    db = Database(data_dir.database)
    try:
        settings = Settings(db)
        settings.set("max_caption_tokens", 8)
        settings.set("temperature", 0.0)
    finally:
        db.close()
    # auto-caption is on: the scan queues both photos in the background, with the
    # default prompt; the query's job of the astronaut takes its place.
    assert main(["--data-dir", str(data_dir.root), "scan", str(folder)]) == 0
    db = Database(data_dir.database)
    try:
        with db.read() as conn:
            astronaut = conn.exec_driver_sql(
                "SELECT id FROM media_items WHERE name = 'astronaut.jpg'"
            ).scalar_one()
        CaptionStore(db).add_user_caption(astronaut, "Commander Eileen, 1990")
    finally:
        db.close()
    capsys.readouterr()

    code, out, err = caption(
        capsys, data_dir, "--query", "astronaut", "--prompt", "detailed",
        "--model-path", str(model), "--mmproj", str(mmproj), "--json",
    )  # fmt: skip

    assert code == 0, err
    summary = json.loads(out)
    assert summary["queued"] == 1 and summary["user_captioned"] == 1
    assert (summary["captioned"], summary["failed"], summary["still_queued"]) == (1, 0, 0)
    db = Database(data_dir.database)
    try:
        store = CaptionStore(db)
        current = store.current(astronaut)
        assert current is not None and current.text == "Commander Eileen, 1990"
        made = [c for c in store.history(astronaut) if c.source == "model"]
        assert made and made[0].prompt_id == "detailed" and made[0].model_id == "custom:model"
        with db.read() as conn:
            coffee = conn.exec_driver_sql(
                "SELECT id FROM media_items WHERE name = 'coffee.jpg'"
            ).scalar_one()
        # Not found by the query: left to the background queue, not run by this command.
        assert open_jobs(db, [coffee]) == {coffee: (0, None)}
    finally:
        db.close()
