"""The requirements panel: what it shows of a plan, why Start is disabled, and installing
the training components with the installer's output and Cancel (a real child process)."""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.ui.finetune.data import PlanView
from app.ui.finetune.plan import PlanPanel

MISSING = PlanView(
    possible=False,
    refusal="The training components are not installed (torch, peft).",
    method="lora",
    method_reason="no GPU: LoRA in float32 on the CPU",
    device="cpu",
    memory_needed_gb=2.4,
    memory_available_gb=7.5,
    estimated_seconds=300,
    missing_packages=("torch", "peft"),
)
READY = PlanView(
    possible=True,
    refusal=None,
    method="qlora",
    method_reason="an NVIDIA GPU with 8 GB: 4-bit weights fit",
    device="cuda",
    memory_needed_gb=5.1,
    memory_available_gb=8.0,
    estimated_seconds=1500,
)


def panel(qtbot: QtBot) -> PlanPanel:
    widget = PlanPanel()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_a_possible_plan_is_described_and_enables_start(qtbot: QtBot) -> None:
    p = panel(qtbot)
    assert not p.start_button.isEnabled()  # nothing planned yet
    assert p.start_reason().startswith("Checking what training needs")
    p.set_plan(READY)
    assert p.start_button.isEnabled() and not p.reason.isVisible()
    assert p.memory_label.text() == "about 5.1 GB needed · 8.0 GB available"
    assert p.method_label.text() == "QLoRA (4-bit): an NVIDIA GPU with 8 GB: 4-bit weights fit"
    assert p.device_label.text() == "NVIDIA GPU"
    assert p.time_label.text() == "roughly 25 min"
    assert not p.install_button.isVisible()
    p.set_running(True)
    assert not p.start_button.isEnabled() and p.cancel_button.isVisible()
    assert not p.holdout.isEnabled() and not p.epochs.isEnabled()
    p.set_running(False)
    assert p.start_button.isEnabled() and not p.cancel_button.isVisible()


def test_options_and_the_alpha_note(qtbot: QtBot) -> None:
    p = panel(qtbot)
    assert p.options() == (0.2, 3, 64)  # the seed article's defaults
    assert not p.epochs.isVisible()  # under Advanced
    p.advanced.click()
    assert p.epochs.isVisible()
    assert p.alpha_note.text().startswith("Alpha 128 (twice the rank), dropout 0.05")
    p.set_options(0.1, 5, 16)
    assert p.options() == (0.1, 5, 16)
    assert p.alpha_note.text().startswith("Alpha 32")


def test_install_runs_with_output_then_asks_for_a_new_plan(qtbot: QtBot) -> None:
    p = panel(qtbot)
    p.set_plan(MISSING)
    assert p.reason.text() == MISSING.refusal and not p.start_button.isEnabled()
    assert p.install_button.isVisible() and not p.install_button.isEnabled()  # no command yet
    script = "print('Collecting torch'); print('Successfully installed torch peft')"
    p.set_install_command([sys.executable, "-c", script])
    assert p.install_button.isEnabled()
    assert p.install_button.toolTip().startswith("Installs torch, peft")
    with qtbot.waitSignal(p.installed, timeout=20_000) as ended:
        qtbot.mouseClick(p.install_button, Qt.MouseButton.LeftButton)
        assert p.install_cancel.isVisible() and not p.install_button.isVisible()
        assert p.start_reason() == "Installing the training components…"
    assert ended.args == [True]
    log = p.install_log.toPlainText()
    assert "Successfully installed torch peft" in log
    assert log.rstrip().endswith("Training components installed.")
    assert not p.install_cancel.isVisible()


def test_install_can_be_cancelled(qtbot: QtBot) -> None:
    p = panel(qtbot)
    p.set_plan(MISSING)
    slow = "import time; print('Downloading torch', flush=True); time.sleep(60)"
    p.set_install_command([sys.executable, "-c", slow])
    p.install_button.click()
    qtbot.waitUntil(lambda: "Downloading torch" in p.install_log.toPlainText(), timeout=20_000)
    with qtbot.waitSignal(p.installed, timeout=20_000) as ended:
        p.install_cancel.click()
    assert ended.args == [False]
    assert p.install_log.toPlainText().rstrip().endswith("Installation cancelled.")
    assert p.install_button.isVisible()  # still missing: it can be tried again
