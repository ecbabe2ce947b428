"""What a downloadable catalog entry needs from its repo: the small protocol the download uses.

A caption model needs a GGUF and its vision projector (mmproj), a text-embedding model one GGUF.
The download, the file choice and the installed-model manifest only see this protocol, so either
kind of entry goes through the same resumable, verified machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class WantedFile:
    role: str  # its key in installed.json: "model" or "mmproj"
    expected: str  # the catalog's file name; the repo listing decides in the end
    quantizations: tuple[str, ...]  # to choose by when the exact name is not there
    projector: bool = False  # chosen among the repo's mmproj files, not its models
    take_single: bool = False  # the only candidate will do (any projector of the model)


class Downloadable(Protocol):
    """A catalog entry the download can install (`CatalogEntry`, `EmbeddingEntry`)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def gguf_repo(self) -> str: ...
    @property
    def revision(self) -> str: ...
    @property
    def kind(self) -> str: ...  # "caption" or "embedding", written to installed.json

    def wanted_files(self) -> tuple[WantedFile, ...]: ...
