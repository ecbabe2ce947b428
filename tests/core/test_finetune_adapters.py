"""The adapter registry with a real adapter from the session's tiny training run:
activation checks the file against the model, a worse or broken adapter is refused
and the previous one stays active, rollback walks back through activations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.core.datadir import DataDir
from app.core.finetune.adapters import (
    AdapterRecord,
    AdapterRefused,
    AdapterRegistry,
    scores_worse,
)
from app.core.storage.db import Database
from tests.caption_support import store_model_caption
from tests.finetune_fixtures import MODEL_ID, TrainedLibrary, copy_trained_library

GOOD = {"bleu4": 0.2, "rouge_l": 0.5, "cider": 1.5}
POOR = {"bleu4": 0.1, "rouge_l": 0.3, "cider": 0.4}


@pytest.fixture
def copied(trained_library: TrainedLibrary, tmp_path: Path) -> tuple[DataDir, Database]:
    data_dir = copy_trained_library(trained_library, tmp_path / "data")
    db = Database(data_dir.database)
    yield data_dir, db
    db.close()


def add_adapter(
    registry: AdapterRegistry,
    data_dir: DataDir,
    source: AdapterRecord,
    *,
    before: dict[str, float] | None = POOR,
    after: dict[str, float] | None = GOOD,
    content: bytes | None = None,
) -> AdapterRecord:
    """Another adapter of the same model: the real file copied (or `content`)."""
    adapter_id, version = registry.new_id(MODEL_ID, adapters_dir=data_dir.adapters)
    folder = data_dir.adapters / adapter_id
    folder.mkdir()
    gguf = folder / "adapter.gguf"
    if content is None:
        shutil.copyfile(source.gguf_path, gguf)
    else:
        gguf.write_bytes(content)
    return registry.register(
        adapter_id=adapter_id,
        version=version,
        model_id=MODEL_ID,
        gguf_path=gguf,
        base_gguf=Path(source.base_gguf),
        method="lora",
        settings={"lora": {"rank": 8}},
        corrections_used=4,
        heldout_count=1,
        metrics_before=before,
        metrics_after=after,
    )


def test_the_trained_adapter_is_registered_and_active(
    trained_library: TrainedLibrary, copied: tuple[DataDir, Database]
) -> None:
    data_dir, db = copied
    registry = AdapterRegistry(db)
    (record,) = registry.list()
    assert record.id == trained_library.adapter_id == f"{MODEL_ID}-v1"
    assert record.active and record.activated_at is not None
    assert registry.active_for(MODEL_ID) == record
    assert Path(record.gguf_path).is_file()
    assert Path(record.gguf_path).parent == trained_library.data_dir.adapters / record.id
    assert record.corrections_used == 4 and record.heldout_count == 1
    assert (
        set(record.metrics_before or {})
        == set(record.metrics_after or {})
        == {
            "bleu4",
            "rouge_l",
            "cider",
        }
    )
    assert record.samples and {"before", "after"} <= set(record.samples)
    assert record.settings["lora"]["rank"] == 8 and record.method in ("lora", "qlora")


def test_a_corrupt_or_foreign_file_is_refused_and_the_previous_stays_active(
    copied: tuple[DataDir, Database],
) -> None:
    data_dir, db = copied
    registry = AdapterRegistry(db)
    (first,) = registry.list()
    corrupt = add_adapter(registry, data_dir, first, content=b"GGUF" + b"\x00" * 64)
    with pytest.raises(AdapterRefused, match=corrupt.id):
        registry.activate(corrupt.id, force=True)  # force never overrides a broken file
    assert registry.active_for(MODEL_ID) == first

    # A real GGUF that is a model, not a LoRA adapter.
    foreign = add_adapter(registry, data_dir, first, content=Path(first.base_gguf).read_bytes())
    with pytest.raises(AdapterRefused) as refused:
        registry.activate(foreign.id)
    assert "adapter" in str(refused.value).lower()
    assert registry.active_for(MODEL_ID) == first

    missing = add_adapter(registry, data_dir, first)
    Path(missing.gguf_path).unlink()
    with pytest.raises(AdapterRefused):
        registry.activate(missing.id)
    assert registry.active_for(MODEL_ID) == first


def test_a_worse_adapter_needs_force(copied: tuple[DataDir, Database]) -> None:
    data_dir, db = copied
    registry = AdapterRegistry(db)
    (first,) = registry.list()
    worse = add_adapter(registry, data_dir, first, before=GOOD, after=POOR)
    with pytest.raises(AdapterRefused, match="CIDEr 1.500 → 0.400"):
        registry.activate(worse.id)
    assert registry.active_for(MODEL_ID) == first
    forced = registry.activate(worse.id, force=True)
    assert forced.active and registry.active_for(MODEL_ID) == forced
    assert not registry.get(first.id).active  # type: ignore[union-attr]


def test_scores_compare_cider_first() -> None:
    assert scores_worse(None, GOOD) is None and scores_worse(GOOD, None) is None
    assert scores_worse(POOR, GOOD) is None
    assert scores_worse(GOOD, POOR) is not None
    tie_worse_rouge = {**GOOD, "rouge_l": 0.1}
    assert "ROUGE-L" in (scores_worse(GOOD, tie_worse_rouge) or "")
    assert scores_worse(GOOD, {**GOOD, "bleu4": 0.0, "cider": 1.6}) is None


def test_deactivate_and_rollback_walk_back(copied: tuple[DataDir, Database]) -> None:
    data_dir, db = copied
    registry = AdapterRegistry(db)
    (v1,) = registry.list()
    v2 = registry.activate(add_adapter(registry, data_dir, v1).id)
    v3 = registry.activate(add_adapter(registry, data_dir, v1).id)
    assert [r.id for r in registry.list()][:3] == [v3.id, v2.id, v1.id]
    assert registry.active_for(MODEL_ID).id == v3.id  # type: ignore[union-attr]

    assert registry.rollback(MODEL_ID).id == v2.id  # type: ignore[union-attr]
    assert registry.rollback(MODEL_ID).id == v1.id  # type: ignore[union-attr]
    assert registry.rollback(MODEL_ID) is None  # before v1: the plain model
    with pytest.raises(AdapterRefused, match="nothing to roll back"):
        registry.rollback(MODEL_ID)

    registry.activate(v3.id)
    assert registry.deactivate(MODEL_ID).id == v3.id  # type: ignore[union-attr]
    assert registry.active_for(MODEL_ID) is None
    assert registry.deactivate(MODEL_ID) is None


def test_rollback_to_a_broken_file_is_refused(copied: tuple[DataDir, Database]) -> None:
    data_dir, db = copied
    registry = AdapterRegistry(db)
    (v1,) = registry.list()
    v2 = registry.activate(add_adapter(registry, data_dir, v1).id)
    previous = registry.activate(add_adapter(registry, data_dir, v1).id)
    Path(v2.gguf_path).write_bytes(b"not a gguf")
    with pytest.raises(AdapterRefused):
        registry.rollback(MODEL_ID)
    assert registry.active_for(MODEL_ID).id == previous.id  # type: ignore[union-attr]


def test_ids_are_versions_and_never_reuse_a_name_captions_carry(
    copied: tuple[DataDir, Database],
) -> None:
    data_dir, db = copied
    registry = AdapterRegistry(db)
    (v1,) = registry.list()
    v2 = add_adapter(registry, data_dir, v1)
    assert (v2.id, v2.version) == (f"{MODEL_ID}-v2", 2)
    item = 1
    store_model_caption(db, item, "made with v3", adapter_id=f"{MODEL_ID}-v3")
    registry.delete(v2.id)
    assert not (data_dir.adapters / v2.id).exists()
    assert registry.get(v2.id) is None
    # v2 is free again (nothing names it), v3 is named by a caption: skipped after it.
    assert registry.new_id(MODEL_ID, adapters_dir=data_dir.adapters) == (f"{MODEL_ID}-v2", 2)
    add_adapter(registry, data_dir, v1)
    assert registry.new_id(MODEL_ID, adapters_dir=data_dir.adapters) == (f"{MODEL_ID}-v4", 4)


def test_deleting_the_active_adapter_leaves_none_active(
    copied: tuple[DataDir, Database],
) -> None:
    data_dir, db = copied
    registry = AdapterRegistry(db)
    (v1,) = registry.list()
    v2 = registry.activate(add_adapter(registry, data_dir, v1).id)
    registry.delete(v2.id)
    assert registry.active_for(MODEL_ID) is None
    with pytest.raises(AdapterRefused, match="no adapter"):
        registry.activate(v2.id)
