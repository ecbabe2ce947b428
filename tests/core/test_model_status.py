"""The Qt-free helpers behind the Models settings page and the welcome flow."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from app.core.datadir import DataDir
from app.core.library.library import Library
from app.core.model_status import (
    LlamaBuild,
    MachineInfo,
    check_custom_pair,
    check_prompt_text,
    format_eta,
    format_mb,
    model_rows,
    needs_first_run,
    parse_backends,
    probe_llama_build,
)
from app.core.storage.db import Database
from models.catalog import load_catalog
from models.errors import InvalidModelFiles
from models.hardware import Hardware, default_model, fits
from models.installed import PARTIAL_DIR
from tests.models.conftest import fixture_pair

LAPTOP = Hardware(ram_gb=8, physical_cores=4, gpu_offload=False)
CUDA_INFO = (
    "CUDA : ARCHS = 500,610,700,750,800,860 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | "
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
)


def test_backends_are_read_from_the_system_info() -> None:
    assert parse_backends(CUDA_INFO) == ("CUDA", "CPU")
    assert parse_backends("CPU : SSE3 = 1 | AVX = 1 | ") == ("CPU",)
    assert parse_backends("Metal : EMBED_LIBRARY = 1 | CPU : NEON = 1 | ") == ("Metal", "CPU")
    assert parse_backends("") == ()


def test_build_labels() -> None:
    cuda = LlamaBuild(True, gpu_offload=True, backends=("CUDA", "CPU"), version="0.3.36")
    assert cuda.label == "CUDA"
    assert cuda.describe() == "llama-cpp-python 0.3.36: CUDA (can offload layers to the GPU)"
    cpu = LlamaBuild(True, gpu_offload=False, backends=("CPU",))
    assert cpu.label == "CPU only" and "cannot offload" in cpu.describe()
    broken = LlamaBuild(False, problem="ImportError: libcuda.so.1")
    assert broken.label == "not available" and "libcuda.so.1" in broken.describe()
    apple = Hardware(16, 8, True, 10.6, "Apple Silicon", True)
    assert MachineInfo(apple, cuda).describe() == "16 GB RAM · 8 cores · Apple Silicon"
    nvidia = Hardware(32, 8, False, 12.0, "RTX 3060")
    assert MachineInfo(nvidia, cpu).describe() == (
        "32 GB RAM · 8 cores · RTX 3060, 12 GB (not used by this llama.cpp build)"
    )


def test_the_probe_asks_the_real_build_in_a_child_process() -> None:
    build = probe_llama_build()
    assert build.loaded, build.problem
    assert "CPU" in build.backends
    import llama_cpp  # the test process may load it; the GUI never does

    assert build.version == llama_cpp.__version__
    assert build.gpu_offload == bool(llama_cpp.llama_supports_gpu_offload())
    assert "llama_cpp" in sys.modules


def test_a_probe_that_cannot_load_llama_cpp_says_why(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ImportError: no llama here' >&2\nexit 1\n")
    fake.chmod(0o755)
    build = probe_llama_build(str(fake))
    assert not build.loaded and build.problem == "ImportError: no llama here"
    missing = probe_llama_build(str(tmp_path / "no-such-python"))
    assert not missing.loaded and "did not finish" in missing.problem


def test_rows_list_every_entry_with_install_state_and_fit(data_dir: DataDir) -> None:
    catalog = load_catalog()
    (data_dir.models / "smolvlm2-2.2b" / PARTIAL_DIR).mkdir(parents=True)
    (data_dir.models / "smolvlm2-2.2b" / PARTIAL_DIR / "abc.part").write_bytes(b"123")

    unknown = model_rows(catalog, data_dir.models, None)
    assert [row.entry.id for row in unknown] == catalog.ids
    assert all(row.fits is None and row.fit_reason == "checking…" for row in unknown)
    assert not any(row.recommended for row in unknown)

    rows = {row.entry.id: row for row in model_rows(catalog, data_dir.models, LAPTOP)}
    for entry in catalog:
        assert (rows[entry.id].fits, rows[entry.id].fit_reason) == fits(entry, LAPTOP)
        assert not rows[entry.id].installed
    assert rows["smolvlm2-2.2b"].partial and not rows["smolvlm2-256m"].partial
    assert [i for i, row in rows.items() if row.recommended] == [default_model(catalog, LAPTOP).id]
    assert rows["qwen2.5-vl-7b"].fits is False


def test_custom_pairs_are_checked_before_they_are_stored(tmp_path: Path) -> None:
    model, mmproj = fixture_pair("smolvlm")
    spec = check_custom_pair(str(model), str(mmproj))
    assert spec.model_path == model.resolve() and spec.mmproj_path == mmproj.resolve()

    with pytest.raises(InvalidModelFiles, match="does not exist"):
        check_custom_pair(str(tmp_path / "gone.gguf"), str(mmproj))
    with pytest.raises(InvalidModelFiles, match=r"must be a \.gguf file; notes\.txt is not"):
        check_custom_pair(str(model), str(tmp_path / "notes.txt"))
    with pytest.raises(InvalidModelFiles, match="Choose the vision projector"):
        check_custom_pair(str(model), "  ")
    with pytest.raises(InvalidModelFiles, match="look swapped"):
        check_custom_pair(str(mmproj), str(model))
    with pytest.raises(InvalidModelFiles, match="two different files"):
        check_custom_pair(str(model), str(model))
    broken = tmp_path / "cut.gguf"
    broken.write_bytes(model.read_bytes()[:2000])
    with pytest.raises(InvalidModelFiles, match="cut.gguf cannot be used"):
        check_custom_pair(str(broken), str(mmproj))
    copied = shutil.copy(mmproj, tmp_path / "mmproj-copy.GGUF")
    assert check_custom_pair(str(model), str(copied)).mmproj_path == Path(copied).resolve()


def test_prompt_text_checks() -> None:
    assert check_prompt_text("Describe it in {language}.{context}") is None
    assert check_prompt_text("Say {{hi}} in {language}") is None
    assert "empty" in (check_prompt_text("   \n") or "")
    assert "{place} is not a placeholder" in (check_prompt_text("Where: {place}") or "")
    assert "do not pair up" in (check_prompt_text("Oops {language") or "")
    assert "do not pair up" in (check_prompt_text("Oops } here") or "")
    assert "Empty or numbered braces" in (check_prompt_text("A {} B") or "")


def test_first_run_until_a_folder_is_added(db: Database, photo_dir: Path) -> None:
    assert needs_first_run(db)
    library = Library(db)
    root = library.add_root(photo_dir)
    assert not needs_first_run(db)
    library.remove_root(root.id)  # removed folders do not count
    assert needs_first_run(db)


def test_formatting() -> None:
    assert format_mb(546) == "546 MB" and format_mb(2780) == "2.8 GB"
    assert format_eta(None) == "estimating…"
    assert format_eta(75) == "1:15 left" and format_eta(3725) == "1:02:05 left"


def test_a_good_probe_is_kept_for_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core import model_status

    answers = [LlamaBuild(False, problem="busy"), LlamaBuild(True, backends=("CPU",))]
    calls: list[int] = []

    def fake_probe() -> LlamaBuild:
        calls.append(1)
        return answers[min(len(calls) - 1, 1)]

    monkeypatch.setattr(model_status, "_machine", None)
    monkeypatch.setattr(model_status, "probe_llama_build", fake_probe)
    assert not model_status.probe_machine().build.loaded  # a failure is not kept
    first = model_status.probe_machine()
    assert first.build.loaded and model_status.probe_machine() is first
    assert len(calls) == 2
    assert first.hardware.ram_gb > 0 and not first.hardware.gpu_offload
