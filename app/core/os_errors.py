"""The words the user sees for an OS error, whoever met it.

The library walk, media decoding, the caption queue and the thumbnail cache all
turn OSErrors into reasons shown in the UI; one wording keeps them consistent and
lets a rescan recognise a permission problem it should try again.
"""

from __future__ import annotations

# Not a problem with the file itself: a rescan tries such files again.
PERMISSION_DENIED = "permission denied"


def describe_os_error(exc: OSError) -> str:
    """A short, user-facing reason for an OS error."""
    if isinstance(exc, PermissionError):
        return PERMISSION_DENIED
    if isinstance(exc, FileNotFoundError):
        return "file vanished while being read"
    return exc.strerror or exc.__class__.__name__
