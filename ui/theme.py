"""Light, dark or the system's look, applied live to the running app (Settings → Theme).

The palette is set explicitly (Fusion style plus a fixed dark or light palette) rather than only asking the
platform for a colour scheme: many Linux desktops and the offscreen/Xvfb platforms ignore that request, and an
explicit palette looks the same everywhere. "system" puts back the palette the platform gave at start-up.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

THEMES = ("system", "light", "dark")
_system_palette: QPalette | None = None
_system_style = ""

_DARK = {
    QPalette.ColorRole.Window: "#2b2d31", QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1e1f22", QPalette.ColorRole.AlternateBase: "#26282c",
    QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#35373c",
    QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.Highlight: "#3d7bd9",
    QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#35373c",
    QPalette.ColorRole.ToolTipText: "#e6e6e6", QPalette.ColorRole.PlaceholderText: "#8a8d93",
    QPalette.ColorRole.Link: "#6ea8fe", QPalette.ColorRole.BrightText: "#ff6b6b",
}


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, colour in _DARK.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#75787e"))
    return palette


def apply_theme(theme: str, app: QApplication | None = None) -> None:
    """Switch the running app to `theme` ("system", "light" or "dark"); every open widget repaints."""
    global _system_palette, _system_style
    app = app or QApplication.instance()
    if app is None:
        return
    if _system_palette is None:
        _system_palette, _system_style = QPalette(app.palette()), app.style().name()
    hints = QGuiApplication.styleHints()
    if theme == "system":
        hints.unsetColorScheme()
        if app.style().name() != _system_style:
            app.setStyle(_system_style)
        app.setPalette(_system_palette)
        return
    if app.style().name().lower() != "fusion":
        app.setStyle(QStyleFactory.create("Fusion"))
    hints.setColorScheme(Qt.ColorScheme.Dark if theme == "dark" else Qt.ColorScheme.Light)
    app.setPalette(dark_palette() if theme == "dark" else app.style().standardPalette())


def is_dark(app: QApplication | None = None) -> bool:
    """Whether the current palette is dark (pages pick readable badge and diff colours by it)."""
    app = app or QApplication.instance()
    return app is not None and app.palette().color(QPalette.ColorRole.Window).lightness() < 128
