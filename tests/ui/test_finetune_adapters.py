"""The adapters tab over a real registry: listing newest first, the selected adapter's
scores, and a file that is not a LoRA adapter refused in words, nothing activated.
(Activation of a real trained adapter is in test_finetune_screen.py's real-run tests.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from app.core.finetune.adapters import AdapterRecord, AdapterRegistry
from app.core.storage.db import Database
from app.services.background import Background
from app.ui.finetune.adapters import AdaptersPanel
from tests.finetune_fixtures import MODEL_ID, install_fixture_model

WAIT = 10_000


@pytest.fixture
def registry(db: Database) -> AdapterRegistry:
    return AdapterRegistry(db)


@pytest.fixture
def panel(qtbot: QtBot, db: Database) -> Iterator[AdaptersPanel]:
    background = Background(threads=1)
    widget = AdaptersPanel(db, background)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    background.wait(5000)


def register(
    registry: AdapterRegistry, version: int, gguf: Path, base: Path, **extra: object
) -> AdapterRecord:
    values: dict[str, object] = {
        "adapter_id": f"{MODEL_ID}-v{version}",
        "version": version,
        "model_id": MODEL_ID,
        "gguf_path": gguf,
        "base_gguf": base,
        "method": "lora",
        "settings": {"lora": {"rank": 8}, "train": {"epochs": 6}},
        "corrections_used": 4,
        "heldout_count": 1,
        **extra,
    }
    return registry.register(**values)  # type: ignore[arg-type]


def test_list_detail_and_a_refused_activation(
    qtbot: QtBot, data_dir: DataDir, registry: AdapterRegistry, panel: AdaptersPanel
) -> None:
    model, mmproj = install_fixture_model(data_dir)
    register(
        registry, 1, mmproj, model,
        metrics_before={"bleu4": 0.1, "rouge_l": 0.2, "cider": 0.3},
        metrics_after={"bleu4": 0.05, "rouge_l": 0.1, "cider": 0.2},
        train_seconds=12.0,
    )  # fmt: skip
    register(registry, 2, mmproj, model)  # not scored
    panel.set_model(MODEL_ID)
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=WAIT)
    assert [panel.table.item(r, 0).text() for r in range(2)] == ["v2", "v1"]
    assert panel.table.item(1, 3).text() == "0.300 → 0.200"
    assert panel.table.item(0, 3).text() == "not scored"
    assert panel.table.item(0, 2).text() == "4 trained, 1 held out"
    assert not panel.deactivate_button.isEnabled() and not panel.rollback_button.isEnabled()
    assert not panel.activate_button.isEnabled()  # nothing selected

    panel.table.selectRow(1)
    detail = panel.detail.text()
    assert "CIDEr 0.300 → 0.200" in detail and "rank 8, 6 epochs, 12 s" in detail
    assert "Caution: it scores worse than the model without it" in detail

    panel.table.selectRow(0)
    assert panel.activate_button.isEnabled()
    panel.activate_button.click()
    qtbot.waitUntil(lambda: panel.message.isVisible(), timeout=WAIT)
    assert panel.message.text() == (
        f"{MODEL_ID}-v2 cannot be used: {mmproj.name} is not a LoRA adapter "
        "(it is a vision projector file)"
    )
    assert registry.active_for(MODEL_ID) is None  # nothing changed
    qtbot.waitUntil(lambda: panel.activate_button.isEnabled(), timeout=WAIT)


def test_no_adapters_says_how_to_make_one(qtbot: QtBot, panel: AdaptersPanel) -> None:
    panel.set_model(MODEL_ID)
    qtbot.waitUntil(lambda: bool(panel.detail.text()), timeout=WAIT)
    assert panel.detail.text().startswith("No adapters yet for this model")
    assert not panel.message.isVisible()
