"""Helpers for the settings and welcome dialog tests: fixed machines, settings reads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from app.core.model_status import LlamaBuild, MachineInfo
from app.core.settings import Settings
from app.core.storage.db import Database
from models.hardware import Hardware

CPU_BUILD = LlamaBuild(True, gpu_offload=False, backends=("CPU",), version="0.3.36")
CUDA_BUILD = LlamaBuild(True, gpu_offload=True, backends=("CUDA", "CPU"), version="0.3.36")
LAPTOP = MachineInfo(Hardware(ram_gb=8, physical_cores=4, gpu_offload=False), CPU_BUILD)
GAMING_PC = MachineInfo(
    Hardware(ram_gb=32, physical_cores=8, gpu_offload=True, vram_gb=12, gpu_name="RTX 3060"),
    CUDA_BUILD,
)


def fixed_probe(
    machine: MachineInfo, release: threading.Event | None = None
) -> Callable[[], MachineInfo]:
    """A machine probe that answers `machine`, after `release` is set if one is given (so a
    test can look at the dialog while the probe is still running)."""

    def probe() -> MachineInfo:
        if release is not None:
            release.wait(10)
        return machine

    return probe


def stored(db: Database, key: str) -> Any:
    return getattr(Settings(db).read(), key)
