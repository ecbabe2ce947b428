"""The Settings dialog, offscreen, on a real database, downloading from the stand-in hub."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.settings import Settings
from app.core.storage.db import Database
from app.services.download_bridge import DownloadBridge
from app.ui.settings.common import error_style
from app.ui.settings.dialog import SettingsDialog
from models.catalog import load_catalog
from models.download import ENDPOINT_ENV
from models.hardware import fits
from models.installed import has_partial_download, installed_models
from models.prompts import builtin_prompts
from tests.models.conftest import fixture_pair
from tests.services.hub_support import catalog_entry, closed_endpoint, stand_in_hub
from tests.ui.ui_support import LAPTOP, fixed_probe, stored

SMALL = catalog_entry("smolvlm2-256m")
OTHER = catalog_entry("smolvlm2-500m")
WAIT_MS = 15_000

OpenDialog = Callable[..., SettingsDialog]


@pytest.fixture
def open_dialog(qtbot: QtBot, db: Database, data_dir: DataDir) -> Iterator[OpenDialog]:
    """Opens Settings dialogs on the test database, waiting until each one is filled in."""
    bridges: list[DownloadBridge] = []
    dialogs: list[SettingsDialog] = []  # kept alive: a page alone does not own its dialog

    def make(probe: Callable | None = None, wait: bool = True) -> SettingsDialog:
        bridge = DownloadBridge(data_dir.models)
        bridges.append(bridge)
        dialog = SettingsDialog(db, data_dir, bridge, machine_probe=probe or fixed_probe(LAPTOP))
        qtbot.addWidget(dialog)
        dialogs.append(dialog)
        dialog.show()
        if wait:
            page = dialog.models_page
            qtbot.waitUntil(lambda: page.fit_of(SMALL.id) not in ("", "checking…"), timeout=WAIT_MS)
            qtbot.waitUntil(dialog.prompts_page.isEnabled, timeout=WAIT_MS)
            qtbot.waitUntil(dialog.library_page.keyframes_spin.isEnabled, timeout=WAIT_MS)
        return dialog

    yield make
    for bridge in bridges:
        bridge.cancel()
        assert bridge.wait(10)


def is_error(label: QLabel) -> bool:
    return not label.isHidden() and label.styleSheet() == error_style()


def test_the_table_lists_every_catalog_entry_with_fit_info(
    qtbot: QtBot, open_dialog: OpenDialog
) -> None:
    release = threading.Event()
    dialog = open_dialog(fixed_probe(LAPTOP, release), wait=False)
    page = dialog.models_page
    qtbot.waitUntil(lambda: page.table.rowCount() == len(load_catalog()), timeout=WAIT_MS)
    assert page.offload_box.build_label.text() == "checking…"
    assert page.fit_of(SMALL.id) == "checking…"  # the probe has not answered yet

    release.set()
    qtbot.waitUntil(lambda: page.fit_of(SMALL.id) != "checking…", timeout=WAIT_MS)
    hardware = LAPTOP.hardware
    for index, entry in enumerate(load_catalog()):
        ok, reason = fits(entry, hardware)
        assert page.table.item(index, 0).text().startswith(entry.name)
        assert page.fit_of(entry.id) == (reason if ok else f"No: {reason}")
        assert page.status_of(entry.id) == "Not installed"
        assert page.table.item(index, 3).text() == ("yes" if entry.video_trained else "no")
    assert page.fit_of("qwen2.5-vl-7b").startswith("No: needs ~8.5 GB RAM")
    recommended = [i for i in range(page.table.rowCount()) if "★" in page.table.item(i, 0).text()]
    assert [page.table.item(i, 0).data(Qt.ItemDataRole.UserRole) for i in recommended] == [
        "smolvlm2-500m"
    ]
    assert page.table.item(1, 1).text() == "546 MB" and page.table.item(4, 1).text() == "5.5 GB"
    assert page.offload_box.build_label.text() == LAPTOP.build.describe()
    assert page.offload_box.machine_label.text() == "8 GB RAM · 4 cores"
    assert "CPU only" in page.offload_box.offload_note.text()


def test_the_real_probe_reports_the_llama_cpp_build(qtbot: QtBot, open_dialog) -> None:
    from app.core.model_status import probe_machine

    dialog = open_dialog(probe_machine, wait=False)
    label = dialog.models_page.offload_box.build_label
    assert label.text() == "checking…"
    qtbot.waitUntil(lambda: label.text() != "checking…", timeout=60_000)
    assert label.text().startswith("llama-cpp-python ")
    page = dialog.models_page
    qtbot.waitUntil(lambda: page.fit_of(SMALL.id) != "checking…", timeout=WAIT_MS)


def test_download_install_and_choose_the_active_model(
    qtbot: QtBot, open_dialog: OpenDialog, db: Database, data_dir: DataDir, monkeypatch
) -> None:
    model, mmproj = fixture_pair("smolvlm")
    Settings(db).set("custom_model_path", str(model))  # a custom pair is in use at first
    Settings(db).set("custom_mmproj_path", str(mmproj))
    with stand_in_hub(monkeypatch, SMALL, OTHER):
        dialog = open_dialog()
        page = dialog.models_page
        qtbot.waitUntil(page.custom_box.clear_button.isEnabled, timeout=WAIT_MS)
        for entry in (SMALL, OTHER):
            page.select_model(entry.id)
            assert page.download_button.isEnabled() and not page.use_button.isEnabled()
            with qtbot.waitSignal(dialog.models_page.rows_shown, timeout=WAIT_MS):
                qtbot.mouseClick(page.download_button, Qt.MouseButton.LeftButton)
            assert page.status_of(entry.id).startswith("Downloading")
            qtbot.waitUntil(lambda e=entry: page.status_of(e.id) == "Installed", timeout=WAIT_MS)
    assert {m.entry_id for m in installed_models(data_dir.models)} == {SMALL.id, OTHER.id}
    assert stored(db, "active_model") == ""  # the custom pair stays in use until a choice
    assert "Installed SmolVLM2 500M Video" in page.message.text()

    page.select_model(OTHER.id)
    assert page.use_button.isEnabled() and not page.download_button.isEnabled()
    with qtbot.waitSignal(dialog.settings_changed, timeout=WAIT_MS) as changed:
        qtbot.mouseClick(page.use_button, Qt.MouseButton.LeftButton)
    assert changed.args == [{"active_model", "custom_model_path", "custom_mmproj_path"}]
    assert stored(db, "active_model") == OTHER.id
    assert stored(db, "custom_model_path") == "" and stored(db, "custom_mmproj_path") == ""
    assert page.status_of(OTHER.id) == "✓ In use" and page.status_of(SMALL.id) == "Installed"
    assert not page.use_button.isEnabled() and not page.custom_box.clear_button.isEnabled()

    page.confirm = lambda _question: True
    page.select_model(OTHER.id)
    qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.status_of(OTHER.id) == "Not installed", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: stored(db, "active_model") == "", timeout=WAIT_MS)
    assert [m.entry_id for m in installed_models(data_dir.models)] == [SMALL.id]


def test_the_first_downloaded_model_becomes_active(
    qtbot: QtBot, open_dialog: OpenDialog, db: Database, monkeypatch
) -> None:
    with stand_in_hub(monkeypatch, SMALL):
        dialog = open_dialog()
        page = dialog.models_page
        page.select_model(SMALL.id)
        page.download_selected()
        qtbot.waitUntil(lambda: page.status_of(SMALL.id) == "✓ In use", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: stored(db, "active_model") == SMALL.id, timeout=WAIT_MS)


def test_cancel_leaves_no_installed_model(
    qtbot: QtBot, open_dialog: OpenDialog, data_dir: DataDir, monkeypatch
) -> None:
    with stand_in_hub(monkeypatch, SMALL) as hub:
        hub.bad.chunk_delay = 0.05
        dialog = open_dialog()
        page = dialog.models_page
        page.select_model(SMALL.id)
        page.download_selected()
        qtbot.waitUntil(lambda: "of" in page.progress_label.text(), timeout=WAIT_MS)
        assert page.progress_bar.isVisibleTo(dialog) and page.cancel_button.isEnabled()
        assert not page.download_button.isEnabled()
        qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.status_of(SMALL.id) == "Partly downloaded", timeout=WAIT_MS)
    assert installed_models(data_dir.models) == []
    assert has_partial_download(SMALL.id, data_dir.models)
    assert page.message.text().startswith("Download cancelled.")
    assert not page.progress_bar.isVisibleTo(dialog)
    page.select_model(SMALL.id)
    assert page.download_button.text() == "Resume download"


def test_offline_download_shows_a_clear_message(
    qtbot: QtBot, open_dialog: OpenDialog, monkeypatch
) -> None:
    endpoint = closed_endpoint()
    monkeypatch.setenv(ENDPOINT_ENV, endpoint)
    dialog = open_dialog()
    page = dialog.models_page
    page.select_model(SMALL.id)
    page.download_selected()
    qtbot.waitUntil(lambda: is_error(page.message), timeout=30_000)
    host = endpoint.removeprefix("http://")
    assert page.message.text() == (
        f"Can't reach {host} — check your connection; the rest of Captionist keeps working."
    )
    qtbot.waitUntil(lambda: page.status_of(SMALL.id) == "Not installed", timeout=WAIT_MS)
    assert page.download_button.isEnabled()


def test_a_custom_pair_is_checked_before_it_is_stored(
    qtbot: QtBot, open_dialog: OpenDialog, db: Database, tmp_path: Path
) -> None:
    model, mmproj = fixture_pair("smolvlm")
    dialog = open_dialog()
    box = dialog.models_page.custom_box
    changes: list[set] = []
    dialog.settings_changed.connect(changes.append)

    box.model_edit.setText(str(model))
    box.mmproj_edit.setText(str(tmp_path / "missing-mmproj.gguf"))
    qtbot.mouseClick(box.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: is_error(box.message), timeout=WAIT_MS)
    assert "does not exist" in box.message.text() and "missing-mmproj.gguf" in box.message.text()

    box.mmproj_edit.setText(str(tmp_path / "notes.txt"))
    box.apply()
    qtbot.waitUntil(lambda: "must be a .gguf file" in box.message.text(), timeout=WAIT_MS)
    assert stored(db, "custom_model_path") == "" and stored(db, "custom_mmproj_path") == ""
    assert changes == []

    box.mmproj_edit.setText(str(mmproj))
    with qtbot.waitSignal(dialog.settings_changed, timeout=WAIT_MS) as changed:
        box.apply()
    assert changed.args == [{"custom_model_path", "custom_mmproj_path"}]
    assert stored(db, "custom_model_path") == str(model.resolve())
    assert stored(db, "custom_mmproj_path") == str(mmproj.resolve())
    assert box.message.text().startswith("In use:") and box.clear_button.isEnabled()

    with qtbot.waitSignal(dialog.settings_changed, timeout=WAIT_MS):
        box.clear()
    assert stored(db, "custom_model_path") == ""


def test_the_offload_setting_is_saved(qtbot: QtBot, open_dialog: OpenDialog, db: Database) -> None:
    box = open_dialog().models_page.offload_box
    assert not box.layers_spin.isEnabled()
    box.offload_combo.setCurrentIndex(box.offload_combo.findData("layers"))
    assert box.layers_spin.isEnabled()
    box.layers_spin.setValue(20)
    qtbot.waitUntil(lambda: stored(db, "gpu_layers") == 20, timeout=WAIT_MS)
    assert stored(db, "gpu_offload") == "layers"


def test_prompt_edit_persists_and_reset_restores(
    qtbot: QtBot, open_dialog: OpenDialog, db: Database
) -> None:
    builtin = builtin_prompts()["detailed"].instruction
    dialog = open_dialog()
    dialog.show_page("Prompts")
    page = dialog.prompts_page
    page.template_combo.setCurrentIndex(page.template_combo.findData("detailed"))
    assert page.text_edit.toPlainText() == builtin and not page.reset_button.isEnabled()
    qtbot.waitUntil(lambda: stored(db, "prompt_id") == "detailed", timeout=WAIT_MS)

    page.text_edit.setPlainText("Describe it in {language}, mention {where}.")
    assert is_error(page.message) and "{where} is not a placeholder" in page.message.text()
    page.save_text()
    edited = "Describe the light and the mood in {language}.{context}"
    page.text_edit.setPlainText(edited)
    assert page.message.isHidden()
    qtbot.waitUntil(lambda: stored(db, "prompt_overrides") == {"detailed": edited}, timeout=WAIT_MS)
    assert page.reset_button.isEnabled() and page.edited_label.text().startswith("Edited")

    again = open_dialog().prompts_page  # a new dialog shows the stored text
    assert again.template_combo.currentData() == "detailed"
    assert again.text_edit.toPlainText() == edited

    again.reset_button.click()
    assert again.text_edit.toPlainText() == builtin
    qtbot.waitUntil(lambda: stored(db, "prompt_overrides") == {}, timeout=WAIT_MS)
    assert not again.reset_button.isEnabled()


def test_language_exif_context_and_moments_are_saved(
    qtbot: QtBot, open_dialog: OpenDialog, db: Database
) -> None:
    dialog = open_dialog()
    dialog.show_page("Prompts")
    page = dialog.prompts_page
    assert page.language_combo.currentText() == "English" and page.exif_check.isChecked()
    page.language_combo.setCurrentText("Deutsch")
    page.save_language()
    page.exif_check.click()
    qtbot.waitUntil(lambda: stored(db, "include_exif_context") is False, timeout=WAIT_MS)
    assert page.moments_check.isChecked()  # each keyframe alone, by default
    page.moments_check.click()
    qtbot.waitUntil(lambda: stored(db, "moments_per_keyframe") is False, timeout=WAIT_MS)
    assert stored(db, "caption_language") == "Deutsch"
    page.language_combo.setCurrentText("  ")
    page.save_language()
    assert is_error(page.language_message)
    assert stored(db, "caption_language") == "Deutsch"


def test_auto_caption_and_keyframes_persist(
    qtbot: QtBot, open_dialog: OpenDialog, db: Database
) -> None:
    dialog = open_dialog()
    dialog.show_page("Library")
    page = dialog.library_page
    assert page.auto_check.isChecked() and page.keyframes_spin.value() == 8
    with qtbot.waitSignal(dialog.settings_changed, timeout=WAIT_MS) as changed:
        qtbot.mouseClick(page.auto_check, Qt.MouseButton.LeftButton)
    assert changed.args == [{"auto_caption"}]
    assert stored(db, "auto_caption") is False
    page.keyframes_spin.setValue(12)
    dialog.close()  # a pending edit is saved on close
    qtbot.waitUntil(lambda: stored(db, "keyframes_per_video") == 12, timeout=WAIT_MS)

    again = open_dialog().library_page
    assert not again.auto_check.isChecked() and again.keyframes_spin.value() == 12


def test_watched_folders_are_added_and_removed(
    qtbot: QtBot, open_dialog: OpenDialog, db: Database, data_dir: DataDir, photo_dir: Path
) -> None:
    dialog = open_dialog()
    dialog.show_page("Library")
    page = dialog.library_page
    assert page.data_path.text() == str(data_dir.root)
    qtbot.waitUntil(lambda: "No folders yet" in page.folders_message.text(), timeout=WAIT_MS)

    with qtbot.waitSignal(dialog.folder_added, timeout=WAIT_MS) as added:
        page.add_folder(str(photo_dir))
    assert added.args == [str(photo_dir.resolve())]
    qtbot.waitUntil(lambda: page.folders.count() == 1, timeout=WAIT_MS)
    assert page.folders.item(0).text() == str(photo_dir.resolve())
    assert [r.path for r in Library(db).roots()] == [str(photo_dir.resolve())]

    page.add_folder(str(photo_dir / "nope"))
    qtbot.waitUntil(lambda: is_error(page.folders_message), timeout=WAIT_MS)
    assert "not a folder" in page.folders_message.text()

    page.folders.setCurrentRow(0)
    with qtbot.waitSignal(dialog.folder_removed, timeout=WAIT_MS):
        qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.folders.count() == 0, timeout=WAIT_MS)
    assert Library(db).roots() == []
