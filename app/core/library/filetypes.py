"""Which files are media, decided by extension (content is checked by the probe)."""

from __future__ import annotations

import os

PHOTO_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif"}
)
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm"})

_KIND_BY_EXT = {os.fsencode(e): "photo" for e in PHOTO_EXTENSIONS} | {
    os.fsencode(e): "video" for e in VIDEO_EXTENSIONS
}

# Folders that hold OS or NAS housekeeping, never the user's photos.
SYSTEM_FOLDERS = frozenset(
    {
        b"$RECYCLE.BIN",
        b"System Volume Information",
        b"lost+found",
        b"@eaDir",  # Synology thumbnails
        b"#recycle",
        b"__MACOSX",
    }
)


def media_kind(path: bytes | str) -> str | None:
    """ "photo", "video" or None, from the file name's extension (any case)."""
    name = os.fsencode(path)
    dot = name.rfind(b".")
    if dot < 0:
        return None
    return _KIND_BY_EXT.get(name[dot:].lower())


def is_hidden_or_system(name: bytes) -> bool:
    return name.startswith(b".") or name in SYSTEM_FOLDERS
