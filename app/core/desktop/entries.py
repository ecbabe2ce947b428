"""The text of Captionist's desktop entry and file-manager actions (freedesktop.org
Desktop Entry 1.4, Nautilus scripts, Dolphin service menus, Nemo actions).

Every action runs `<launcher> caption-this <selected paths>`: the running app (or a new
one) queues them first. Folders may be selected too: what is inside them is queued.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from app import APP_NAME

APP_ID = "captionist"  # the entry's file name, the icon name, Qt's desktop file name
ACTION_NAME = "Caption this"
FILE_MANAGER_ACTION = "Caption with Captionist"
COMMENT = "Caption, tag and search your photos and videos with a local model"

# The formats the library indexes (app.core.library.filetypes), as MIME types.
PHOTO_TYPES = (
    "image/jpeg", "image/png", "image/webp", "image/tiff", "image/bmp", "image/gif",
    "image/heic", "image/heif",
)  # fmt: skip
VIDEO_TYPES = (
    "video/mp4", "video/quicktime", "video/x-m4v", "video/x-matroska", "video/x-msvideo",
    "video/webm",
)  # fmt: skip
MEDIA_TYPES = PHOTO_TYPES + VIDEO_TYPES
FOLDER_TYPE = "inode/directory"

# Characters that make an Exec argument need quotes, and those escaped inside quotes
# (Desktop Entry spec, "The Exec key").
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_ESCAPED_IN_QUOTES = '"`$\\'


def exec_argument(argument: str) -> str:
    """One Exec argument: quoted when needed, `%` doubled (field codes are ours only)."""
    text = argument.replace("%", "%%")
    if text and not any(c in _RESERVED for c in text):
        return text
    inner = "".join("\\" + c if c in _ESCAPED_IN_QUOTES else c for c in text)
    return f'"{inner}"'


def exec_line(argv: Sequence[str], *field_codes: str) -> str:
    """An Exec value. The key's value is also a "string" in which a backslash is written
    twice, on top of the quoting rule's own escape."""
    line = " ".join([*(exec_argument(a) for a in argv), *field_codes])
    return line.replace("\\", "\\\\")


def desktop_entry(launcher: Sequence[str], icon: str = APP_ID) -> str:
    """The application's entry: in menus and docks, "Open with" for photos and videos,
    and a "Caption this" action (right-click on the launcher)."""
    caption_this = exec_line([*launcher, "caption-this"], "%F")
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Version=1.4",  # 1.5 (SingleMainWindow) is unknown to desktop-file-utils 0.26
            f"Name={APP_NAME}",
            "GenericName=Photo Captioner",
            f"Comment={COMMENT}",
            f"Exec={exec_line([*launcher, 'open'], '%F')}",
            f"Icon={icon}",
            "Terminal=false",
            "StartupNotify=true",
            "Categories=Graphics;Photography;Viewer;",
            f"MimeType={';'.join(MEDIA_TYPES)};",
            "Keywords=caption;tag;photo;video;search;library;",
            "Actions=caption-this;",
            "",
            "[Desktop Action caption-this]",
            f"Name={ACTION_NAME}",
            f"Exec={caption_this}",
            "",
        ]
    )


def nautilus_script(launcher: Sequence[str]) -> str:
    """Nautilus (GNOME Files) runs scripts with the selected files as arguments and the
    shown folder as the working directory; the app makes them absolute."""
    command = " ".join(shlex.quote(a) for a in [*launcher, "caption-this"])
    return f'#!/bin/sh\n# {FILE_MANAGER_ACTION} (installed by Captionist)\nexec {command} "$@"\n'


def dolphin_service_menu(launcher: Sequence[str], icon: str = APP_ID) -> str:
    """KDE Dolphin's service menu (kio/servicemenus, KF5 and KF6)."""
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Service",
            f"MimeType={';'.join((*MEDIA_TYPES, FOLDER_TYPE))};",
            "Actions=captionThis;",
            "X-KDE-Priority=TopLevel",
            "",
            "[Desktop Action captionThis]",
            f"Name={FILE_MANAGER_ACTION}",
            f"Icon={icon}",
            f"Exec={exec_line([*launcher, 'caption-this'], '%F')}",
            "",
        ]
    )


def nemo_action(launcher: Sequence[str], icon: str = APP_ID) -> str:
    """Cinnamon Nemo's action file (nemo/actions/*.nemo_action)."""
    return "\n".join(
        [
            "[Nemo Action]",
            f"Name={FILE_MANAGER_ACTION}",
            f"Comment={COMMENT}",
            f"Exec={exec_line([*launcher, 'caption-this'], '%F')}",
            f"Icon-Name={icon}",
            "Selection=notnone",
            f"Mimetypes={';'.join((*MEDIA_TYPES, FOLDER_TYPE))};",
            "",
        ]
    )
