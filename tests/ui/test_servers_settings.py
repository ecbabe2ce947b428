"""Settings → Models → Inference servers, offscreen on a real database: add through the
dialog, a test run by a named double off the GUI thread, remove with a confirm, the mode
saved, the plain-http warning and the privacy words shown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from app.core.servers.registry import ServerRegistry
from app.core.settings import Settings
from app.core.storage.db import Database
from app.services.background import Background
from app.ui.settings.common import SettingsStore
from app.ui.settings.server_dialog import SERVER_DEFAULT, ServerDialog
from app.ui.settings.servers_section import ServersSection
from tests.servers_support import LLAMA, FakeServerChecks, InMemoryKeyring, keychain

WAIT_MS = 10_000
HERE = "http://127.0.0.1:8080"


@pytest.fixture
def memory_keyring() -> Iterator[InMemoryKeyring]:
    with keychain(InMemoryKeyring()) as backend:
        assert isinstance(backend, InMemoryKeyring)
        yield backend


@pytest.fixture
def fake_checks() -> FakeServerChecks:
    return FakeServerChecks({HERE: LLAMA})


@pytest.fixture
def section(qtbot: QtBot, db: Database, fake_checks: FakeServerChecks) -> Iterator[ServersSection]:
    store = SettingsStore(db)
    background = Background(threads=1)
    widget = ServersSection(store, background, checks=lambda: fake_checks)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(widget.mode_box.isEnabled, timeout=WAIT_MS)
    yield widget
    widget.close()
    assert background.wait(5000)
    store._lane.wait(5000)


def registry(db: Database) -> ServerRegistry:
    return ServerRegistry(Settings(db))


def open_add_dialog(section: ServersSection) -> ServerDialog:
    section.add_button.click()
    dialog = section.dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def press_ok(dialog: ServerDialog) -> None:
    button = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert button is not None
    button.click()


def test_a_server_added_through_the_dialog_is_stored_with_its_key_in_the_keychain(
    qtbot: QtBot, section: ServersSection, db: Database, memory_keyring: InMemoryKeyring
) -> None:
    dialog = open_add_dialog(section)
    dialog.url_edit.setText(HERE + "/v1")
    dialog.name_edit.setText("desk")
    dialog.ask_button.click()  # fills the model choice from the probe
    qtbot.waitUntil(lambda: dialog.model_box.count() == 3, timeout=WAIT_MS)
    assert [dialog.model_box.itemText(i) for i in range(3)] == [SERVER_DEFAULT, *LLAMA.models]
    dialog.model_box.setCurrentIndex(1)
    dialog.key_edit.setText("sk-desk")
    dialog.slots_spin.setValue(2)
    with qtbot.waitSignal(section.servers_shown, timeout=WAIT_MS):
        press_ok(dialog)

    assert section.names() == ["desk"]
    (entry,) = registry(db).list()
    assert (entry.url, entry.model, entry.slots) == (HERE, "qwen2.5-vl-3b", 2)
    assert entry.key_source() == "keychain"
    assert list(memory_keyring.secrets.values()) == ["sk-desk"]
    assert "sk-desk" not in repr(Settings(db).read().inference_servers)
    assert section.status_of("desk") == "● not tested"


def test_a_bad_address_keeps_the_dialog_open_with_the_reason(section: ServersSection) -> None:
    dialog = open_add_dialog(section)
    dialog.url_edit.setText("192.168.1.5:8080")
    press_ok(dialog)
    assert dialog.isVisible()
    assert "http:// or https://" in dialog.message.text()
    dialog.reject()


def test_plain_http_to_another_machine_is_warned_in_the_dialog_and_under_the_list(
    qtbot: QtBot, section: ServersSection
) -> None:
    dialog = open_add_dialog(section)
    dialog.url_edit.setText("http://192.168.1.5:8080")
    assert not dialog.url_warning.isHidden()
    assert "plain http://" in dialog.url_warning.text()
    dialog.url_edit.setText("https://192.168.1.5:8443")
    assert dialog.url_warning.isHidden()
    dialog.url_edit.setText("http://192.168.1.5:8080")
    with qtbot.waitSignal(section.servers_shown, timeout=WAIT_MS):
        press_ok(dialog)

    assert not section.warning_label.isHidden()
    assert "192.168.1.5 is reached over plain http://" in section.warning_label.text()


def test_the_mode_is_saved_and_the_privacy_words_follow_it(
    qtbot: QtBot, section: ServersSection, db: Database
) -> None:
    registry(db).add("https://gpu-box:8443")
    with qtbot.waitSignal(section.servers_shown, timeout=WAIT_MS):
        section.reload()
    assert section.privacy_label.text().startswith("Photos stay on this computer")

    index = section.mode_box.findData("servers")
    section.mode_box.setCurrentIndex(index)
    with qtbot.waitSignal(section.servers_shown, timeout=WAIT_MS):
        section.mode_box.activated.emit(index)

    assert registry(db).mode() == "servers"
    assert section.privacy_label.text().startswith(
        "Photos are sent to: gpu-box (https://gpu-box:8443)."
    )


def test_test_lights_the_status_and_says_the_time_per_photo(
    qtbot: QtBot, section: ServersSection, db: Database, fake_checks: FakeServerChecks
) -> None:
    registry(db).add(HERE, name="desk")
    registry(db).add("http://127.0.0.1:9", name="gone")
    with qtbot.waitSignal(section.servers_shown, timeout=WAIT_MS):
        section.reload()

    section.select("desk")
    with qtbot.waitSignal(section.tested, timeout=WAIT_MS):
        section.test_selected()
        assert section.status_of("desk") == "● testing…"
    assert section.status_of("desk") == "● ok · llama-server · 12 ms · 4 slots · 0.4 s per photo"
    assert "0.4 s per photo" in section.message.text()

    section.select("gone")
    with qtbot.waitSignal(section.tested, timeout=WAIT_MS):
        section.test_selected()
    assert section.status_of("gone").startswith("● unhealthy: gone (http://127.0.0.1:9)")
    assert "not answering" in section.message.text()
    assert [c[0] for c in fake_checks.calls] == ["probe", "caption", "probe"]


def test_remove_asks_first_and_disable_turns_the_light_off(
    qtbot: QtBot, section: ServersSection, db: Database
) -> None:
    registry(db).add(HERE, name="desk")
    with qtbot.waitSignal(section.servers_shown, timeout=WAIT_MS):
        section.reload()
    section.select("desk")

    with qtbot.waitSignal(section.servers_shown, timeout=WAIT_MS):
        section.enable_button.click()
    assert section.status_of("desk") == "○ disabled"
    assert registry(db).get("desk").enabled is False

    asked: list[str] = []
    section.confirm = lambda question: asked.append(question) or False
    section.select("desk")
    section.remove_button.click()
    assert asked and "Remove desk" in asked[0]
    assert [e.name for e in registry(db).list()] == ["desk"]  # said no: kept

    section.confirm = lambda question: True
    with qtbot.waitSignal(section.servers_shown, timeout=WAIT_MS):
        section.remove_button.click()
    assert section.names() == [] and registry(db).list() == []
