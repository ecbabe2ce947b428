"""The training runtime's pins are what the source install (the one the tests run in)
has: they cannot drift silently from what was tested."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from models.finetune import runtime

ROOT = Path(__file__).resolve().parents[2]


def test_every_pin_is_the_installed_version() -> None:
    pins = runtime.pins()
    assert {"torch", "transformers", "peft", "accelerate", "gguf", "numpy"} <= set(pins)
    wrong = {
        name: (version, metadata.version(name))
        for name, version in pins.items()
        if metadata.version(name).split("+")[0] != version
    }
    assert not wrong, f"pins differ from the source install (name: (pin, installed)): {wrong}"


def test_the_pins_file_is_the_whole_closure_of_the_requirements() -> None:
    """packaging/runtime_pins.py --check: nothing added, removed or changed since."""
    checked = subprocess.run(
        [sys.executable, "packaging/runtime_pins.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_python_is_the_source_installs() -> None:
    assert runtime.python_version() == f"{sys.version_info.major}.{sys.version_info.minor}"
