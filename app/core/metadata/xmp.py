"""Reading and writing captions as XMP with Exiv2 (pyexiv2): sidecars and embedded.

What we write: `dc:description` (x-default plus the caption's language), `dc:subject`
(the tags) and a small `captionist:` namespace (Source "ai" or "me", Model, Prompt,
Adapter). Every other field in the file or sidecar is kept: Exiv2 rewrites only the
keys given. Writes are atomic: a copy beside the target is changed, then renamed over
it, so a crash leaves the old file or the new one, never half of one. Embedding changes
metadata segments only; the pixel data is copied byte for byte.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyexiv2

from models.regular_file import regular_file, regular_path, regular_size

NAMESPACE = "http://ns.captionist.app/xmp/1.0/"
PREFIX = "captionist"
SOURCE_AI, SOURCE_ME = "ai", "me"
MAX_IN_MEMORY = 256 * 2**20
STAGING_PREFIX, STAGING_SUFFIX = ".captionist-", ".tmp"
STAGING_COPY_CHUNK = 2**20
EMBEDDABLE = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"})
_SKELETON = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>\n'
    "</x:xmpmeta>\n"
    '<?xpacket end="w"?>\n'
)
# Exiv2 keeps global state (namespaces, error handler); calls are serialised.
_LOCK = threading.Lock()
_registered = False


class MetadataError(Exception):
    """A per-file problem with a user-facing reason."""


@dataclass(frozen=True, slots=True)
class CaptionMetadata:
    """What one file's metadata says (written by us or by another app)."""

    text: str
    tags: tuple[str, ...] = ()
    language: str | None = None
    source: str | None = None  # ours: "ai" or "me"; None when another app wrote it
    model: str | None = None


def sidecar_path(path: Path) -> Path:
    """NAME.EXT.xmp: the form darktable, digiKam and exiftool's -o %f.%e.xmp use, which
    keeps photo.jpg and photo.png apart."""
    return path.with_name(path.name + ".xmp")


def fields_for(
    text: str,
    tags: Sequence[str],
    *,
    language: str | None,
    by_user: bool,
    model: str | None,
    prompt: str | None,
    adapter: str | None,
) -> dict[str, Any]:
    description = {'lang="x-default"': text}
    if language and language.lower() not in ("x-default", ""):
        description[f'lang="{language}"'] = text
    return {
        "Xmp.dc.description": description,
        # An empty list empties earlier tags (None would leave an array in place).
        "Xmp.dc.subject": list(tags),
        f"Xmp.{PREFIX}.Source": SOURCE_ME if by_user else SOURCE_AI,
        f"Xmp.{PREFIX}.Model": None if by_user else model,
        f"Xmp.{PREFIX}.Prompt": None if by_user else prompt,
        f"Xmp.{PREFIX}.Adapter": None if by_user else adapter,
    }


def write_sidecar(path: Path, fields: Mapping[str, Any]) -> Path:
    target = sidecar_path(path)
    with _staged(target) as staged:
        if target.exists():  # a FIFO or folder by that name: refused, never replaced
            _copy_regular(target, staged)
        else:
            staged.write_text(_SKELETON, encoding="utf-8")
        _modify(staged, fields)
    return target


def embed(
    path: Path,
    fields: Mapping[str, Any],
    *,
    before_replace: Callable[[Path], None] = lambda _staged: None,
) -> Path:
    """Into the file itself. `before_replace` sees the finished copy just before it
    replaces the original (to record its new size and date first)."""
    if path.suffix.lower() not in EMBEDDABLE:
        raise MetadataError(f"cannot embed XMP into {path.suffix or 'this'} files")
    if not os.access(path, os.W_OK):
        raise MetadataError(f"{path.name} is read-only")
    with _staged(path) as staged:
        _copy_regular(path, staged)
        shutil.copystat(path, staged)  # keeps the mode and dates of the original
        _modify(staged, fields)
        before_replace(staged)
    return path


def read(path: Path) -> CaptionMetadata | None:
    """The caption and keywords recorded for a file: its sidecar first (where apps keep
    edits for files they do not touch), then XMP in the file, then IPTC, then EXIF."""
    sidecar = sidecar_path(path)
    try:
        has_sidecar = sidecar.is_file()
    except OSError:  # e.g. the name plus ".xmp" is longer than the filesystem allows
        has_sidecar = False
    found = _read_one(sidecar, sidecar=True) if has_sidecar else None
    return found or _read_one(path, sidecar=False)


# -- Exiv2 --------------------------------------------------------------------------------
def _ensure_namespace() -> None:
    global _registered
    if not _registered:
        pyexiv2.set_log_level(4)  # Exiv2 prints warnings for odd files; we report instead
        pyexiv2.registerNs(NAMESPACE, PREFIX)
        _registered = True


def _modify(path: Path, fields: Mapping[str, Any]) -> None:
    with _LOCK:
        _ensure_namespace()
        try:
            if _utf8_path(path):
                with pyexiv2.Image(str(path)) as image:
                    image.modify_xmp(dict(fields))
            else:  # pyexiv2 takes only UTF-8 paths: change the bytes in memory instead
                with pyexiv2.ImageData(path.read_bytes()) as image:
                    image.modify_xmp(dict(fields))
                    changed = image.get_bytes()
                path.write_bytes(changed)
        except RuntimeError as exc:  # Exiv2's errors: unreadable or unsupported file
            raise MetadataError(_reason(exc)) from exc


def _read_one(path: Path, *, sidecar: bool) -> CaptionMetadata | None:
    with _LOCK:
        _ensure_namespace()
        try:
            # Checked to be a regular file (a FIFO would block Exiv2's open forever);
            # on Linux the checked file's /proc path, which is UTF-8 whatever its name.
            with regular_path(path) as checked:
                if _utf8_path(Path(checked)):
                    opened = pyexiv2.Image(checked)
                elif regular_size(path) <= MAX_IN_MEMORY:
                    with regular_file(path) as stream:
                        opened = pyexiv2.ImageData(stream.read())
                else:
                    return None  # an odd name on a huge file: not worth reading whole
                with opened as image:
                    xmp = image.read_xmp()
                    iptc = {} if sidecar else image.read_iptc()
                    exif = {} if sidecar else image.read_exif()
        except (RuntimeError, OSError):
            return None  # the scan reports unreadable files; metadata is a bonus
    return _from_xmp(xmp) or _from_iptc(iptc) or _from_exif(exif)


def _utf8_path(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name (surrogate escapes)
        return False
    return True


def _from_xmp(xmp: Mapping[str, Any]) -> CaptionMetadata | None:
    description = xmp.get("Xmp.dc.description")
    if isinstance(description, dict):
        text = description.get('lang="x-default"') or next(iter(description.values()), "")
        language = next(
            (k[6:-1] for k, v in description.items() if k != 'lang="x-default"' and v == text),
            None,
        )
    else:
        text, language = description or "", None
    text = _clean(text)
    if not text:
        return None
    subject = xmp.get("Xmp.dc.subject") or []
    tags = [subject] if isinstance(subject, str) else list(subject)
    return CaptionMetadata(
        text=text,
        tags=_tags(tags),
        language=language,
        source=xmp.get(f"Xmp.{PREFIX}.Source"),
        model=xmp.get(f"Xmp.{PREFIX}.Model"),
    )


def _from_iptc(iptc: Mapping[str, Any]) -> CaptionMetadata | None:
    text = _clean(iptc.get("Iptc.Application2.Caption", ""))
    if not text:
        return None
    keywords = iptc.get("Iptc.Application2.Keywords") or []
    listed = [keywords] if isinstance(keywords, str) else keywords
    return CaptionMetadata(text=text, tags=_tags(listed))


# What cameras put in EXIF ImageDescription by themselves: not anyone's caption.
CAMERA_FILLER = frozenset(
    {"olympus digital camera", "sony dsc", "default", "image", "digital camera",
     "samsung", "camera", "untitled", "lg", "minolta dsc", "kodak digital still camera"}
)  # fmt: skip


def _from_exif(exif: Mapping[str, Any]) -> CaptionMetadata | None:
    text = _clean(exif.get("Exif.Image.ImageDescription", ""))
    if not text or text.lower() in CAMERA_FILLER:
        return None
    return CaptionMetadata(text=text)


def _clean(value: Any) -> str:
    return " ".join(str(value).split()) if value else ""


def _tags(values: Sequence[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in (_clean(v) for v in values) if t))


def _copy_regular(source: Path, staged: Path) -> None:
    """The bytes of `source`, a regular file (NotRegularFile otherwise), into `staged`."""
    with regular_file(source) as src, staged.open("wb") as dst:
        shutil.copyfileobj(src, dst, STAGING_COPY_CHUNK)


@contextlib.contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """A temporary file beside `target` (same filesystem, so the rename is atomic).

    Its name is short and fixed in length, not derived from the target's: a name of
    the target's length plus a suffix would pass the filesystem's 255-byte limit for
    long names (an 82-character Japanese name is 246 bytes). Hidden, so the library
    walk skips it; created exclusively, so it never overwrites anything."""
    staged: Path | None = None
    try:
        staged = _new_staging_file(target.parent)
        yield staged
        os.replace(staged, target)
    except PermissionError as exc:
        raise MetadataError(_permission_reason(target)) from exc
    except OSError as exc:
        raise MetadataError(f"could not write {target.name}: {exc.strerror or exc}") from exc
    finally:
        if staged is not None:
            with contextlib.suppress(OSError):
                staged.unlink()


def _new_staging_file(folder: Path) -> Path:
    """An empty new file named ".captionist-<8 hex>.tmp" (24 bytes) in `folder`."""
    while True:
        staged = folder / f"{STAGING_PREFIX}{secrets.token_hex(4)}{STAGING_SUFFIX}"
        try:
            os.close(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:  # pragma: no cover - 1 in 4 billion
            continue
        return staged


def _permission_reason(target: Path) -> str:
    if target.exists() and not os.access(target, os.W_OK):
        return f"{target.name} is read-only"
    return f"the folder {target.parent} is read-only"


def _reason(exc: RuntimeError) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return f"Exiv2 could not update it: {text}"
