"""Library roots (the folders the user added) and paths' place among them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Connection

from app.core.storage.item_rows import move_missing_item
from app.core.storage.root_rows import root_paths


@dataclass(frozen=True, slots=True)
class RootInfo:
    id: int
    path: bytes
    label: bytes  # the root's own folder name: the start of every item's "folder" text


def load_roots(conn: Connection, *, enabled_only: bool = True) -> list[RootInfo]:
    return [
        RootInfo(root_id, path, os.path.basename(path) or path)
        for root_id, path in root_paths(conn, enabled_only=enabled_only)
    ]


def root_for(path: bytes, roots: list[RootInfo]) -> RootInfo | None:
    """The root a path lies in (the deepest, should roots ever nest)."""
    best: RootInfo | None = None
    for root in roots:
        if is_within(path, root.path) and (best is None or len(root.path) > len(best.path)):
            best = root
    return best


def is_within(path: bytes, folder: bytes) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep.encode()) + os.sep.encode())


def subtree_bounds(folder: bytes) -> tuple[bytes, bytes]:
    """(low, high) such that low < path < high for exactly the paths below `folder`.

    Paths are stored as bytes, so a range on the unique path index finds a subtree
    without scanning the table.
    """
    sep = os.sep.encode()
    prefix = folder.rstrip(sep) + sep
    return prefix, prefix[:-1] + bytes([sep[0] + 1])


# A missing item keeps its captions and history, but not a claim on its path: when a
# different file appears there, the item's path moves to this namespace (unique,
# never on disk; the original stays readable after the prefix and the item id).
RELEASED_PREFIX = b"\x00released\x00"


def release_path(conn: Connection, item_id: int, path: bytes) -> None:
    move_missing_item(conn, item_id, RELEASED_PREFIX + str(item_id).encode() + b"\x00" + path)


def display_text(raw: bytes) -> str:
    """Text for display and search; undecodable bytes become U+FFFD."""
    return raw.decode("utf-8", "replace")


def folder_text(path: bytes, root: RootInfo) -> str:
    """ "Pictures/2024/Summer" for /home/u/Pictures/2024/Summer/a.jpg in root ~/Pictures.

    Relative to the root (plus the root's own name) so that searching "home" or
    "Users" does not match every file in the library.
    """
    return parent_folder_text(os.path.dirname(path), root)


def parent_folder_text(parent: bytes, root: RootInfo) -> str:
    """folder_text of any file directly in the folder `parent`."""
    rel = os.path.relpath(parent, root.path) if parent != root.path else b"."
    joined = root.label if rel == b"." else os.path.join(root.label, rel)
    return display_text(joined)


SEP = os.sep.encode()


class Placer:
    """Where files go among the roots: their root, name text and folder text.

    Root and folder text are the same for every file of a folder, and computing
    them (`root_for`, `os.path.relpath`) per file was a tenth of discovery, so they
    are cached per parent folder.
    """

    def __init__(self, roots: list[RootInfo]) -> None:
        self._roots = roots
        self._folders: dict[bytes, tuple[RootInfo, str] | None] = {}

    def place(self, path: bytes) -> tuple[RootInfo, str, str] | None:
        """(root, name text, folder text) of the file at `path`; None outside the roots."""
        parent, _, name = path.rpartition(SEP)  # os.path.split, without its overhead
        parent = parent or SEP  # a file in the filesystem root
        try:
            folder = self._folders[parent]
        except KeyError:
            folder = self._folders[parent] = self._folder(path, parent)
        if folder is None:
            return None
        return folder[0], display_text(name), folder[1]

    def _folder(self, path: bytes, parent: bytes) -> tuple[RootInfo, str] | None:
        root = root_for(path, self._roots)
        return None if root is None else (root, parent_folder_text(parent, root))
