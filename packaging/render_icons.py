"""Render the app icon from resources/icons/captionist.svg into the PNG sizes desktops
ask for, a Windows .ico and a macOS .icns (PyInstaller's --icon for each platform).

Run after changing the SVG, and commit what it writes:

    .venv/bin/python packaging/render_icons.py

Qt's SVG renderer draws each size from the vector (small sizes stay sharp); Pillow packs
the .ico and .icns from those PNGs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SVG = ICONS / "captionist.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # the sizes Windows uses
ICNS_SIZES = (16, 32, 64, 128, 256, 512)


def png_path(size: int) -> Path:
    """The freedesktop hicolor layout, so `install-desktop` copies the tree as it is."""
    return ICONS / "hicolor" / f"{size}x{size}" / "apps" / "captionist.png"


def render(size: int) -> QImage:
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"error: {SVG} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # fonts, painting
    for size in SIZES:
        path = png_path(size)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not render(size).save(str(path), "PNG"):
            raise SystemExit(f"error: could not write {path}")
    largest = Image.open(png_path(max(SIZES)))
    largest.save(ICONS / "captionist.ico", sizes=[(s, s) for s in ICO_SIZES])
    largest.save(ICONS / "captionist.icns", sizes=[(s, s) for s in ICNS_SIZES])
    print(f"wrote {len(SIZES)} PNGs, captionist.ico and captionist.icns under {ICONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
