"""Errors of the model layer that a user can cause or fix.

Every message is a sentence meant for the user (shown in the GUI or printed by the CLI), not a
traceback: it says what went wrong and, where there is one, what to do about it.
"""

from __future__ import annotations


class ModelError(Exception):
    """Base class: catch this to show any model-layer problem to the user."""


class CatalogError(ModelError):
    """The catalog file is missing or malformed (a packaging bug or a bad override file)."""


class InvalidModelFiles(ModelError):
    """A local GGUF / mmproj pair cannot be used (missing, truncated, wrong kind of file)."""


class EmbeddingError(ModelError):
    """A text-embedding model cannot be loaded or run (missing, corrupt, not an embedder)."""


class DownloadError(ModelError):
    """A model download failed; the message says why and whether retrying can help."""


class DownloadCancelled(ModelError):
    """The user cancelled a download. Not a `DownloadError`: a cancel is not a failure to show.

    What was downloaded so far is kept, so the next download of the same model resumes.
    """
