"""The catalog data file, choosing files from a repo listing, and custom GGUF pairs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from models.catalog import CATALOG_PATH, load_catalog
from models.errors import CatalogError, DownloadError, InvalidModelFiles
from models.hub import RemoteFile, RepoListing, pick_files
from models.spec import custom_model_spec
from tests.models.conftest import fixture_pair

QUANT_IN_NAME = re.compile(r"(?<![a-z0-9])(q\d_k_[sml]|q\d_\d|f16|bf16|f32)(?![a-z0-9])", re.I)


def test_the_bundled_catalog_loads_with_the_required_families() -> None:
    catalog = load_catalog()
    assert catalog.source == CATALOG_PATH
    required = ("smolvlm2-256m", "smolvlm2-500m", "smolvlm2-2.2b", "qwen2.5-vl-3b")
    assert {*required, "qwen2.5-vl-7b", "gemma-3-4b"} <= set(catalog.ids)
    assert any(entry.family in {"internvl3", "moondream2"} for entry in catalog)
    assert len(set(catalog.ids)) == len(catalog)


@pytest.mark.parametrize("entry", load_catalog().entries, ids=lambda entry: entry.id)
def test_every_entry_is_well_formed(entry) -> None:
    assert entry.gguf_repo.startswith("ggml-org/") and entry.gguf_repo.endswith("-GGUF")
    assert entry.revision == "main"
    stem = entry.model_file.removesuffix(".gguf")
    assert stem.endswith(f"-{entry.quantization}")  # <Model>-<QUANT>.gguf
    assert entry.mmproj_file.startswith("mmproj-")
    assert entry.mmproj_quantization.lower() in entry.mmproj_file.lower()
    assert QUANT_IN_NAME.search(entry.model_file) and QUANT_IN_NAME.search(entry.mmproj_file)
    assert 50 <= entry.download_mb <= 20_000
    assert 0 < entry.vram_gb <= entry.ram_gb <= 64
    assert entry.context_size in (4096, 8192, 16384, 32768)
    assert 0 < entry.image_tokens_hint < entry.context_size
    assert "/" in entry.base_weights_repo and entry.license and entry.license_note
    assert entry.name.strip() == entry.name


def test_sizes_grow_with_the_models() -> None:
    catalog = load_catalog()
    smolvlm2 = ("smolvlm2-256m", "smolvlm2-500m", "smolvlm2-2.2b")
    sizes = [catalog.get(model_id).download_mb for model_id in smolvlm2]
    assert sizes == sorted(sizes)
    assert catalog.get("qwen2.5-vl-3b").ram_gb < catalog.get("qwen2.5-vl-7b").ram_gb


def _write_catalog(tmp_path: Path, mutate) -> Path:
    data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["models"][0].pop("mmproj_file"), "missing field 'mmproj_file'"),
        (lambda d: d["models"][0].update(ram_gbs=2), "unknown field"),
        (lambda d: d["models"][0].update(video_trained=1), "'video_trained' must be a bool"),
        (lambda d: d["models"][0].update(context_size=True), "'context_size' must be a int"),
        (lambda d: d["models"][1].update(id=d["models"][0]["id"]), "appears twice"),
        (lambda d: d["models"][0].update(id="../evil"), "id must be"),
        (lambda d: d["models"][0].update(mmproj_file="projector.gguf"), "mmproj"),
        (lambda d: d["models"][0].update(ram_gb=0), "ram_gb must be positive"),
        (lambda d: d.update(format=2), "format"),
    ],
)
def test_a_broken_catalog_file_is_a_clear_error(tmp_path: Path, mutate, message: str) -> None:
    with pytest.raises(CatalogError, match=re.escape(message)):
        load_catalog(_write_catalog(tmp_path, mutate))


def test_an_override_catalog_is_used(tmp_path: Path) -> None:
    path = _write_catalog(tmp_path, lambda d: d.update(models=d["models"][:1]))
    assert load_catalog(path).ids == ["smolvlm2-256m"]
    with pytest.raises(CatalogError, match="missing"):
        load_catalog(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CatalogError, match="cannot be read"):
        load_catalog(tmp_path / "bad.json")


# -- choosing the pair from a repo listing ---------------------------------------------------


def _listing(*names: str) -> RepoListing:
    return RepoListing("ggml-org/X-GGUF", "c" * 40, tuple(RemoteFile(n, 1, None) for n in names))


def _pick(entry_id: str, *names: str) -> tuple[str, str]:
    model, mmproj = pick_files(load_catalog().get(entry_id), _listing(*names))
    return model.name, mmproj.name


def test_the_expected_names_win() -> None:
    names = (
        "SmolVLM2-500M-Video-Instruct-Q8_0.gguf",
        "SmolVLM2-500M-Video-Instruct-f16.gguf",
        "mmproj-SmolVLM2-500M-Video-Instruct-Q8_0.gguf",
        "mmproj-SmolVLM2-500M-Video-Instruct-f16.gguf",
        "README.md",
    )
    assert _pick("smolvlm2-500m", *names) == (names[0], names[2])


def test_renamed_files_are_found_by_quantization() -> None:
    names = (
        "qwen2.5-vl-3b-instruct-q4_k_m.gguf",
        "Qwen2.5-VL-3B-Instruct-Q4_K_M-imat.gguf",
        "Qwen2.5-VL-3B-Instruct-Q8_0.gguf",
        "mmproj-Qwen2.5-VL-3B-Instruct-f16.gguf",
    )
    # Case-insensitive exact name first; the mmproj falls back from Q8_0 to F16.
    assert _pick("qwen2.5-vl-3b", *names) == (names[0], names[3])
    assert _pick("qwen2.5-vl-3b", *names[1:]) == (names[1], names[3])


def test_a_single_projector_of_any_quant_is_taken() -> None:
    assert _pick("gemma-3-4b", "gemma-3-4b-it-Q4_K_M.gguf", "mmproj-gemma3-bf16.gguf")[1] == (
        "mmproj-gemma3-bf16.gguf"
    )


def test_no_matching_file_names_the_repo_and_what_it_has() -> None:
    with pytest.raises(DownloadError) as raised:
        _pick("smolvlm2-500m", "SmolVLM2-500M-Video-Instruct-Q4_K_M.gguf", "mmproj-x-Q8_0.gguf")
    message = str(raised.value)
    assert "No model file like SmolVLM2-500M-Video-Instruct-Q8_0.gguf" in message
    assert "ggml-org/X-GGUF" in message and "SmolVLM2-500M-Video-Instruct-Q4_K_M.gguf" in message
    with pytest.raises(DownloadError, match="No mmproj file like"):
        _pick("smolvlm2-500m", "SmolVLM2-500M-Video-Instruct-Q8_0.gguf")


# -- custom pairs ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["smolvlm", "qwen2_5_vl"])
def test_a_real_pair_makes_a_custom_spec(name: str) -> None:
    model, mmproj = fixture_pair(name)
    spec = custom_model_spec(model, mmproj)
    assert spec.is_custom and spec.model_path == model.resolve()
    assert spec.mmproj_path == mmproj.resolve() and spec.context_size == 8192
    assert spec.id.startswith("custom-model-") and spec.base_weights_repo is None
    assert custom_model_spec(model, mmproj, name="Mine", context_size=2048).name == "Mine"


def test_swapped_or_wrong_files_are_refused(tmp_path: Path) -> None:
    model, mmproj = fixture_pair("smolvlm")
    with pytest.raises(InvalidModelFiles, match="look swapped"):
        custom_model_spec(mmproj, model)
    with pytest.raises(InvalidModelFiles, match="not a vision projector: it has no clip"):
        custom_model_spec(model, model)
    with pytest.raises(InvalidModelFiles, match="is a vision projector, not a language model"):
        custom_model_spec(mmproj, mmproj)
    with pytest.raises(InvalidModelFiles, match="does not exist"):
        custom_model_spec(tmp_path / "missing.gguf", mmproj)
    with pytest.raises(InvalidModelFiles, match="not a file"):
        custom_model_spec(model, tmp_path)


def test_a_projector_of_another_model_is_refused() -> None:
    pytest.importorskip("gguf")  # the pair check reads metadata with the gguf package
    with pytest.raises(InvalidModelFiles, match="do not work together"):
        custom_model_spec(fixture_pair("smolvlm")[0], fixture_pair("qwen2_5_vl")[1])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:1000], "truncated or damaged"),  # cut inside the header
        (lambda data: data[:-100], "truncated: "),  # cut inside the last tensor
        (lambda data: b"\0" * len(data), "not a GGUF file"),
        (lambda data: b"<html>Not Found</html>", "not a GGUF file"),  # a saved error page
        (lambda data: b"", "not a GGUF file"),
    ],
)
def test_truncated_or_garbage_files_are_refused(tmp_path: Path, damage, message: str) -> None:
    model, mmproj = fixture_pair("smolvlm")
    broken = tmp_path / "model.gguf"
    broken.write_bytes(damage(model.read_bytes()))
    with pytest.raises(InvalidModelFiles, match=re.escape(message)) as raised:
        custom_model_spec(broken, mmproj)
    assert str(raised.value).startswith("model.gguf cannot be used as the model")
    shutil.copy(model, tmp_path / "ok.gguf")
    with pytest.raises(InvalidModelFiles, match=re.escape(message)):
        custom_model_spec(tmp_path / "ok.gguf", broken)


def test_only_pixel_budget_families_get_an_image_token_cap() -> None:
    """A cap makes llama.cpp slice SmolVLM's images its generic way (padded, not the
    model's longest-edge tiles); Qwen2.5-VL's own processor works to a pixel budget."""
    catalog = load_catalog()
    assert catalog.get("smolvlm2-256m").image_max_tokens is None
    qwen = catalog.get("qwen2.5-vl-3b")
    assert qwen.image_max_tokens == qwen.image_tokens_hint
