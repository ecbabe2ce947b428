"""The catalog of downloadable models, read from `resources/catalog.json`.

The list is data, not code: adding a model or correcting a size is a JSON edit, and the loader
checks every field so a typo fails loudly at start-up (and in the tests) instead of surfacing
as a confusing download error later. Sizes and memory needs in it are rough estimates.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from models.errors import CatalogError
from models.wanted import WantedFile

RESOURCES_DIR = Path(__file__).resolve().parents[1] / "resources"
CATALOG_PATH = RESOURCES_DIR / "catalog.json"
FORMAT = 1

# Ids name folders under <data dir>/models, so they must be safe path components.
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
REPO_PATTERN = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
# Any projector of the right model will do: the entry's own quant first, then these.
MMPROJ_PREFERENCE = ("Q8_0", "F16", "BF16", "F32")
# A field whose metadata says so may be an empty string (a prompt prefix a model does without).
MAY_BE_EMPTY = "may_be_empty"


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Entry = TypeVar("Entry", bound=_Identified)


# Families whose image processor resizes to a pixel (token) budget, as llama.cpp's cap
# does: Qwen2.5-VL's smart resize. See CatalogEntry.image_max_tokens.
PIXEL_BUDGET_FAMILIES = frozenset({"qwen2.5-vl"})


@dataclass(frozen=True)
class CatalogEntry:
    """One downloadable model: where its GGUF pair lives and what it roughly needs."""

    id: str
    name: str
    family: str
    gguf_repo: str
    revision: str
    quantization: str
    model_file: str
    mmproj_quantization: str
    mmproj_file: str
    download_mb: int
    ram_gb: float
    vram_gb: float
    context_size: int
    video_trained: bool
    base_weights_repo: str
    image_tokens_hint: int
    license: str
    license_note: str = ""
    # Original model's parameters in billions (0.0: unknown); fine-tuning estimates use it.
    params_billion: float = 0.0

    kind: ClassVar[str] = "caption"

    @property
    def image_max_tokens(self) -> int | None:
        """The cap on an image's tokens handed to llama.cpp, for the families whose own
        image processor sizes images by a pixel budget. For the others a cap switches
        llama.cpp to its generic slicing, which the model never saw: for SmolVLM
        (Idefics3) it drops the model's longest-edge tiling and pads the picture, and the
        shapes-world captioner then named a black square in most photos."""
        return (self.image_tokens_hint or None) if self.family in PIXEL_BUDGET_FAMILIES else None

    def wanted_files(self) -> tuple[WantedFile, ...]:
        """The GGUF and its vision projector (models.wanted's protocol for the download)."""
        return (
            WantedFile("model", self.model_file, (self.quantization,)),
            WantedFile(
                "mmproj",
                self.mmproj_file,
                (self.mmproj_quantization, *MMPROJ_PREFERENCE),
                projector=True,
                take_single=True,
            ),
        )


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]
    source: Path

    def __iter__(self) -> Iterator[CatalogEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, entry_id: object) -> bool:
        return any(entry.id == entry_id for entry in self.entries)

    def get(self, entry_id: str) -> CatalogEntry | None:
        return next((entry for entry in self.entries if entry.id == entry_id), None)

    @property
    def ids(self) -> list[str]:
        return [entry.id for entry in self.entries]


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Read and validate the catalog; `path` overrides the bundled file (tests, power users)."""
    source = Path(path) if path is not None else CATALOG_PATH
    data = read_catalog_file(source, "model catalog")
    entries = typed_entries(data, source, CatalogEntry)
    for entry in entries:
        _check_entry(entry, f"{source}: model {entry.id!r}")
    return Catalog(entries, source)


def read_catalog_file(source: Path, what: str) -> dict[str, Any]:
    """The JSON object of a catalog file, with the expected format number."""
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"The {what} is missing: {source}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogError(f"The {what} {source} cannot be read: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CatalogError(f'{source}: expected an object with "format": {FORMAT}')
    return data


def typed_entries(data: dict[str, Any], source: Path, entry_type: type[Entry]) -> tuple[Entry, ...]:
    """`data["models"]` as `entry_type` dataclasses: every field present (or defaulted), of
    its declared type, no unknown ones, and no id twice."""
    raw_entries = data.get("models")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise CatalogError(f'{source}: "models" must be a non-empty list')
    entries = tuple(_entry(raw, index, source, entry_type) for index, raw in enumerate(raw_entries))
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise CatalogError(f"{source}: model id {entry.id!r} appears twice")
        seen.add(entry.id)
    return entries


def _entry(raw: Any, index: int, source: Path, entry_type: type[Entry]) -> Entry:
    where = f"{source}: models[{index}]"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where} must be an object")
    where = f"{source}: model {raw.get('id', index)!r}"
    known = {field.name: field for field in fields(entry_type)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, field in known.items():
        if name not in raw:
            if field.default is not MISSING:
                continue
            raise CatalogError(f"{where}: missing field {name!r}")
        empty_ok = bool(field.metadata.get(MAY_BE_EMPTY))
        values[name] = _typed(raw[name], str(field.type), f"{where}: field {name!r}", empty_ok)
    return entry_type(**values)


def _typed(value: Any, type_name: str, where: str, empty_ok: bool = False) -> Any:
    # bool is an int in Python; a flag written as 1 or a size written as true is a typo.
    if type_name == "bool":
        ok = isinstance(value, bool)
    elif type_name == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_name == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str) and (empty_ok or value.strip() != "")
    if not ok:
        raise CatalogError(f"{where} must be a {type_name}, got {value!r}")
    return value


def _check_entry(entry: CatalogEntry, where: str) -> None:
    problems = []
    if not ID_PATTERN.match(entry.id):
        problems.append("id must be lowercase letters, digits, '.', '-' or '_'")
    for repo_field in ("gguf_repo", "base_weights_repo"):
        if not REPO_PATTERN.match(getattr(entry, repo_field)):
            problems.append(f"{repo_field} must look like owner/name")
    if not entry.model_file.endswith(".gguf") or "mmproj" in entry.model_file.lower():
        problems.append("model_file must be a .gguf that is not an mmproj")
    if not entry.mmproj_file.endswith(".gguf") or "mmproj" not in entry.mmproj_file.lower():
        problems.append("mmproj_file must be a .gguf with 'mmproj' in its name")
    for number in ("download_mb", "ram_gb", "vram_gb", "context_size", "image_tokens_hint"):
        if getattr(entry, number) <= 0:
            problems.append(f"{number} must be positive")
    if entry.params_billion < 0:
        problems.append("params_billion must not be negative (0 means unknown)")
    if problems:
        raise CatalogError(f"{where}: " + "; ".join(problems))
