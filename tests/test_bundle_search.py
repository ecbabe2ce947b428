"""The double-click app searches by meaning: its own llama.cpp embeds the captions
(`captionist embed`), its faiss finds them (`search --mode semantic`), and its
query-embedding process (`embed-queries`, what the window starts) answers. The bundle is
built once and cached (tests/bundle_support.py), shared with the fine-tune bundle test."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from app.core.datadir import DataDir
from app.core.storage.db import Database
from tests.bundle_support import EXE, cached_bundle
from tests.caption_support import store_model_caption
from tests.core.test_storage import add_item

pytestmark = [pytest.mark.bundle, pytest.mark.slow, pytest.mark.timeout(3600)]
REQUIRED = os.environ.get("CAPTIONIST_REQUIRE_BUNDLE") == "1"
MODEL = Path(__file__).resolve().parent / "fixtures" / "models" / "embed_bert" / "model.gguf"


def test_the_bundle_embeds_and_searches_by_meaning(tmp_path: Path) -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        if REQUIRED:
            pytest.fail("the packaging extra is not installed (PyInstaller)")
        pytest.skip("the packaging extra is not installed (PyInstaller)")
    bundle, _ = cached_bundle()
    cli = [str(bundle / f"captionist-cli{EXE}"), "--data-dir", str(tmp_path / "data")]
    db = Database(DataDir.resolve(tmp_path / "data").database)
    try:
        store_model_caption(db, add_item(db, "kite.jpg"), "a kite over the lake", [])
        store_model_caption(db, add_item(db, "cat.jpg"), "a cat asleep on a sofa", [])
    finally:
        db.close()
    env = {**os.environ}
    env.pop("PYTHONPATH", None)  # nothing of this checkout may leak into the bundle

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args], env=env, input=stdin, capture_output=True, text=True, timeout=300
        )

    embedded = run("embed", "--model", str(MODEL), "--json")
    assert embedded.returncode == 0, embedded.stderr[-3000:]
    assert json.loads(embedded.stdout)["ready"] is True
    found = run("search", "--mode", "semantic", "--json", "a kite over the lake")
    assert found.returncode == 0, found.stderr[-3000:]
    hits = json.loads(found.stdout)
    assert hits[0]["path"].endswith("kite.jpg") and hits[0]["match"] == "semantic"
    queries = run("embed-queries", "--model-path", str(MODEL), stdin='{"text": "kite"}\n')
    ready, answer = (json.loads(line) for line in queries.stdout.splitlines())
    assert ready["ready"] is True and ready["dimension"] == 64
    assert "vector" in answer
