"""The real embedding path: tiny random-weight GGUF embedding models run by llama.cpp
(tests/fixtures/models/embed_*), real vectors in the real index — through `captionist
embed`, the worker's embedding thread, the window's query-embedding process and
`captionist search`; and kill -9 in the middle of a backfill.

Random weights say nothing about meaning, so the assertions are about the machinery:
every caption gets the vector llama.cpp gives its text, a query identical to a
caption finds that caption first (identical text, identical vector), nothing is
missing or stale after a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.cli.main import main
from app.core.captioning.events import CaptionEvent, EmbeddingFailed, EmbeddingProgress
from app.core.datadir import DataDir
from app.core.semantic.hybrid import Finder, QueryEmbeddingError, SearchMode
from app.core.semantic.model_choice import EmbeddingChoice
from app.core.semantic.query_embedder import QueryEmbedderProcess
from app.core.semantic.worker_loop import EmbeddingLoop
from app.core.storage import embedding_rows as rows
from app.core.storage.db import Database, now
from models.embedding import TextEmbedder
from tests.caption_support import store_model_caption
from tests.core.test_storage import add_item
from tests.semantic.library_support import add_captioned
from tests.semantic.library_support import assert_in_step as in_step

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models"
ARCHITECTURES = ["embed_bert", "embed_gemma"]
MAIN_PY = Path(__file__).resolve().parents[2] / "main.py"


def model_path(name: str) -> str:
    return str(FIXTURES / name / "model.gguf")


def fill(db: Database, count: int) -> None:
    """`count` captioned photos (and an uncaptioned one first, item 1)."""
    add_item(db, "seed.jpg")
    colours = ("red", "blue", "green")
    with db.write() as conn:
        add_captioned(
            conn, [f"photo {n}: a {colours[n % 3]} kite number {n}" for n in range(count)]
        )


def assert_in_step(db: Database, path: str) -> None:
    """llama.cpp's vectors of the current texts (50 rows spread over the library are
    enough to catch staleness); float16 storage keeps the cosine above 0.995."""
    with TextEmbedder(path) as embedder:
        in_step(db, embedder, sample=50, cosine=0.995)


def cli(data_dir: DataDir, *args: str) -> int:
    return main(["--data-dir", str(data_dir.root), *args])


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_embed_then_search_by_meaning_from_the_command_line(
    data_dir: DataDir, db: Database, capsys: pytest.CaptureFixture[str], architecture: str
) -> None:
    fill(db, 120)
    store_model_caption(db, add_item(db, "kite.jpg"), "a kite over the lake at dawn", [])
    assert cli(data_dir, "embed", "--model", model_path(architecture), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["embedded"], summary["pending"], summary["ready"]) == (121, 0, True)
    assert_in_step(db, model_path(architecture))

    assert (
        cli(data_dir, "search", "--mode", "semantic", "--json", "a kite over the lake at dawn") == 0
    )
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["path"].endswith("kite.jpg") and hits[0]["match"] == "semantic"
    assert hits[0]["score"] == pytest.approx(1.0, abs=0.01)  # identical text, identical vector
    assert len(hits) == 20 and all(hit["match"] == "semantic" for hit in hits)

    # Hybrid, the default: the words match, and so does the meaning (the same text).
    assert cli(data_dir, "search", "--json", "a kite over the lake at dawn") == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["path"].endswith("kite.jpg") and hits[0]["match"] == "both"
    assert {hit["match"] for hit in hits} <= {"keyword", "semantic", "both"}

    assert cli(data_dir, "similar", "--json", "2") == 0
    assert json.loads(capsys.readouterr().out)


def test_search_without_vectors_is_keyword_only_and_says_so_when_asked(
    data_dir: DataDir, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    store_model_caption(db, add_item(db, "kite.jpg"), "a kite over the lake", [])
    assert cli(data_dir, "search", "--json", "kite") == 0
    out = capsys.readouterr()
    assert [hit["match"] for hit in json.loads(out.out)] == ["keyword"] and out.err == ""
    assert cli(data_dir, "search", "--mode", "semantic", "kite") == 0
    assert "embedding model" in capsys.readouterr().err


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_worker_thread_keeps_vectors_in_step(db: Database, architecture: str) -> None:
    fill(db, 40)
    events: list[CaptionEvent] = []
    loop = started_loop(db, EmbeddingChoice(model_path(architecture), "tiny"), events)
    try:
        wait_for(lambda: any(isinstance(e, EmbeddingProgress) and e.ready for e in events))
        item = add_item(db, "late.jpg")  # captioned and edited while the thread runs
        store_model_caption(db, item, "a late kite", [])
        with db.write() as conn:
            conn.exec_driver_sql(
                """INSERT INTO captions (item_id, text, tags, source, created_at)
                   VALUES (?, 'the user''s own words', '[]', 'user', ?)""",
                (item, now()),
            )
        wait_for(lambda: _pending(db) == 0 and _has_vector(db, item))
    finally:
        loop.finish(drain=False)
    assert_in_step(db, model_path(architecture))
    assert not any(isinstance(e, EmbeddingFailed) for e in events)


def test_a_model_that_cannot_load_is_reported_and_nothing_else_stops(
    db: Database, tmp_path: Path
) -> None:
    fill(db, 3)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 100)
    events: list[CaptionEvent] = []
    loop = started_loop(db, EmbeddingChoice(str(broken), "Broken"), events)
    loop.finish(drain=True)  # it ends by itself
    assert [type(e) for e in events] == [EmbeddingFailed]
    assert "Broken" in events[0].message  # type: ignore[attr-defined]


def test_the_windows_query_process_gives_the_same_vectors(db: Database) -> None:
    fill(db, 30)
    path = model_path("embed_bert")
    assert cli_embed(db, path) == 0
    with db.read() as conn:
        model = rows.ready_model(conn)
    assert model is not None
    process = QueryEmbedderProcess()
    try:
        with TextEmbedder(path) as local:
            for text in ["a red kite", "", "🪁" * 50, "x" * 10_000, "'; DROP TABLE x; --"]:
                remote = process(model, text)
                assert float(np.dot(remote, local.embed_query(text))) > 0.999
        # The process died between searches: the next search starts another.
        first = process._process.process.pid  # type: ignore[union-attr]
        os.kill(first, signal.SIGKILL)
        time.sleep(0.2)
        assert process(model, "a red kite").shape == (model.dimension,)
        assert process._process.process.pid != first  # type: ignore[union-attr]
        found = Finder(db, process).find("red kite", mode=SearchMode.HYBRID)
        assert found.mode == SearchMode.HYBRID and found.hits
    finally:
        process.close()


def test_a_query_process_that_keeps_failing_rests(db: Database) -> None:
    fill(db, 3)
    assert cli_embed(db, model_path("embed_bert")) == 0
    with db.read() as conn:
        model = rows.ready_model(conn)
    assert model is not None
    started: list[int] = []

    def dies_at_once(_model: rows.StoredModel) -> list[str]:
        started.append(1)
        return [sys.executable, "-c", "import sys; sys.exit(3)"]

    process = QueryEmbedderProcess(dies_at_once)
    for _ in range(3):
        with pytest.raises(QueryEmbeddingError, match="stopped"):
            process(model, "kite")
    with pytest.raises(QueryEmbeddingError, match="keeps failing"):
        process(model, "kite")
    assert len(started) == 3  # resting: no process per keystroke
    found = Finder(db, process).find("kite")
    assert found.mode == SearchMode.KEYWORD and "keeps failing" in found.notice


def test_kill_9_during_a_backfill_loses_nothing(data_dir: DataDir, db: Database) -> None:
    total = 6000
    fill(db, total)
    path = model_path("embed_bert")
    command = [
        sys.executable,
        str(MAIN_PY),
        "--data-dir",
        str(data_dir.root),
        "embed",
        "--model",
        path,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _pending(db) < total - 500, timeout=120)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    left = _pending(db)
    assert 0 < left < total, "killed before or after the backfill: the test proves nothing"
    assert cli_embed(db, path, data_dir) == 0
    assert_in_step(db, path)


# -- helpers ----------------------------------------------------------------------------
def started_loop(
    db: Database, choice: EmbeddingChoice, events: list[CaptionEvent]
) -> EmbeddingLoop:
    """The worker's embedding thread, running as in the background worker."""
    loop = EmbeddingLoop(
        db, choice, emit=events.append, captioning=threading.Event(), forever=True, data_root=None
    )
    loop.start()
    return loop


def cli_embed(db: Database, path: str, data_dir: DataDir | None = None) -> int:
    root = data_dir.root if data_dir else Path(db.engine.url.database or "").parent
    return main(["--data-dir", str(root), "embed", "--model", path, "--json"])


def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _pending(db: Database) -> int:
    with db.read() as conn:
        return rows.pending_count(conn)


def _has_vector(db: Database, item: int) -> bool:
    with db.read() as conn:
        return (
            conn.exec_driver_sql("SELECT 1 FROM embeddings WHERE row_key = ?", (item,)).first()
            is not None
        )
