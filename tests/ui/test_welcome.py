"""The first-run welcome, offscreen: a folder, the default model offered, downloaded, later."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from app.core.storage.db import Database
from app.services.download_bridge import DownloadBridge
from app.ui.settings.common import error_style
from app.ui.window.welcome import WelcomeDialog
from models.catalog import load_catalog
from models.download import ENDPOINT_ENV
from models.hardware import default_model, fits
from models.installed import installed_models
from tests.services.hub_support import catalog_entry, closed_endpoint, stand_in_hub
from tests.ui.ui_support import GAMING_PC, LAPTOP, fixed_probe, stored

WAIT_MS = 15_000
LAPTOP_MODEL = catalog_entry("smolvlm2-500m")

OpenWelcome = Callable[..., WelcomeDialog]


@pytest.fixture
def open_welcome(qtbot: QtBot, db: Database, data_dir: DataDir) -> Iterator[OpenWelcome]:
    bridges: list[DownloadBridge] = []

    def make(probe: Callable | None = None) -> WelcomeDialog:
        bridge = DownloadBridge(data_dir.models)
        bridges.append(bridge)
        dialog = WelcomeDialog(db, data_dir, bridge, machine_probe=probe or fixed_probe(LAPTOP))
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    yield make
    for bridge in bridges:
        bridge.cancel()
        assert bridge.wait(10)


def offered(qtbot: QtBot, dialog: WelcomeDialog) -> str:
    qtbot.waitUntil(lambda: dialog.offered_model() is not None, timeout=WAIT_MS)
    return dialog.offered_model() or ""


def test_choosing_a_folder_tells_the_window_and_shows_the_scan(
    qtbot: QtBot, open_welcome: OpenWelcome, photo_dir: Path
) -> None:
    dialog = open_welcome()
    assert dialog.steps.currentIndex() == 0
    with qtbot.waitSignal(dialog.folder_chosen, timeout=1_000) as chosen:
        dialog.choose_folder(str(photo_dir))
    assert chosen.args == [str(photo_dir)]
    assert str(photo_dir) in dialog.folder_label.text()
    dialog.set_scan_progress(1234)
    assert dialog.scan_label.text() == "Found 1,234 photos and videos so far…"
    dialog.set_scan_progress(-1)
    assert dialog.scan_label.text().startswith("Scan finished")
    qtbot.mouseClick(dialog.next_button, Qt.MouseButton.LeftButton)
    assert dialog.steps.currentIndex() == 1


@pytest.mark.parametrize("machine", [LAPTOP, GAMING_PC], ids=["laptop", "gaming-pc"])
def test_the_default_model_for_this_hardware_is_offered_with_its_size(
    qtbot: QtBot, open_welcome: OpenWelcome, machine
) -> None:
    release = threading.Event()
    dialog = open_welcome(fixed_probe(machine, release))
    dialog.show_model_step()
    assert dialog.offer_label.text() == "Checking what this computer can run…"
    assert not dialog.download_button.isEnabled()
    release.set()

    expected = default_model(load_catalog(), machine.hardware)
    assert offered(qtbot, dialog) == expected.id
    size = "546 MB" if machine is LAPTOP else "5.5 GB"
    assert dialog.offer_label.text() == (
        f"Recommended for this computer: <b>{expected.name}</b> — {size} download."
    )
    reason = fits(expected, machine.hardware)[1]
    assert f"Why this one: {reason}." in dialog.reason_label.text()
    assert machine.describe() in dialog.reason_label.text()
    assert dialog.download_button.isEnabled() and not dialog.download_button.isHidden()
    assert dialog.later_button.text() == "Later" and dialog.done_button.isHidden()


def test_download_installs_the_offer_and_makes_it_active(
    qtbot: QtBot, open_welcome: OpenWelcome, db: Database, data_dir: DataDir, monkeypatch
) -> None:
    with stand_in_hub(monkeypatch, LAPTOP_MODEL) as hub:
        hub.bad.chunk_delay = 0.01
        dialog = open_welcome()
        dialog.show_model_step()
        assert offered(qtbot, dialog) == LAPTOP_MODEL.id
        with qtbot.waitSignal(dialog.settings_changed, timeout=WAIT_MS) as changed:
            qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
            assert not dialog.progress_bar.isHidden() and not dialog.cancel_button.isHidden()
            assert dialog.later_button.text() == "Continue in the background"
    assert changed.args == [{"active_model"}]
    assert stored(db, "active_model") == LAPTOP_MODEL.id
    assert [m.entry_id for m in installed_models(data_dir.models)] == [LAPTOP_MODEL.id]
    assert not dialog.done_button.isHidden() and dialog.download_button.isHidden()
    assert dialog.progress_bar.isHidden()

    again = open_welcome()  # an installed default is not offered for download again
    offered(qtbot, again)
    assert not again.done_button.isHidden() and again.download_button.isHidden()
    assert "already installed" in again.message.text()
    with qtbot.waitSignal(again.finished, timeout=1_000):
        qtbot.mouseClick(again.done_button, Qt.MouseButton.LeftButton)


def test_offline_shows_why_and_later_still_finishes(
    qtbot: QtBot, open_welcome: OpenWelcome, db: Database, monkeypatch
) -> None:
    endpoint = closed_endpoint()
    monkeypatch.setenv(ENDPOINT_ENV, endpoint)
    dialog = open_welcome()
    dialog.show_model_step()
    offered(qtbot, dialog)
    dialog.download()
    qtbot.waitUntil(lambda: dialog.message.styleSheet() == error_style(), timeout=30_000)
    assert dialog.message.text().startswith(f"Can't reach {endpoint.removeprefix('http://')}")
    assert not dialog.download_button.isHidden() and dialog.download_button.isEnabled()
    assert "work without a model" in " ".join(
        label.text() for label in dialog.findChildren(type(dialog.message))
    )
    with qtbot.waitSignal(dialog.finished, timeout=1_000):
        qtbot.mouseClick(dialog.later_button, Qt.MouseButton.LeftButton)
    assert stored(db, "active_model") == ""


def test_cancel_keeps_the_offer_open(
    qtbot: QtBot, open_welcome: OpenWelcome, data_dir: DataDir, monkeypatch
) -> None:
    with stand_in_hub(monkeypatch, LAPTOP_MODEL) as hub:
        hub.bad.chunk_delay = 0.05
        dialog = open_welcome()
        dialog.show_model_step()
        offered(qtbot, dialog)
        dialog.download()
        qtbot.waitUntil(lambda: " of " in dialog.progress_label.text(), timeout=WAIT_MS)
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: dialog.message.text().startswith("Download cancelled"), timeout=WAIT_MS
        )
    assert installed_models(data_dir.models) == []
    assert dialog.progress_bar.isHidden() and dialog.download_button.isEnabled()
    assert dialog.later_button.text() == "Later"
