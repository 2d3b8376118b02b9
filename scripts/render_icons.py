"""Render the app icon's PNG sizes, the Windows .ico and the macOS .icns from resources/icons/workbench.svg.

Qt's own SVG renderer (QtSvg) does it, so no other tool is needed; the outputs are committed, so neither a
wheel build nor PyInstaller has to render anything. Run again after editing the SVG:

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/render_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)  # resources.ICON_SIZES: the hicolor sizes desktops look up


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841  (image plugins need it)
    renderer = QSvgRenderer(str(ICONS / "workbench.svg"))
    if not renderer.isValid():
        print("resources/icons/workbench.svg is not a valid SVG", file=sys.stderr)
        return 1
    for size in SIZES:
        render(renderer, size).save(str(ICONS / f"workbench-{size}.png"))
    render(renderer, 256).save(str(ICONS / "workbench.ico"))  # Windows: the .exe's icon (PyInstaller)
    render(renderer, 512).save(str(ICONS / "workbench.icns"))  # macOS: the .app's icon (PyInstaller)
    print(f"rendered {len(SIZES)} PNG sizes, workbench.ico and workbench.icns into {ICONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
