"""Light, dark or the system's look, applied live to the running app (Settings → Theme), and the app icon.

The palette is set explicitly (a fixed dark or light palette) rather than only asking the platform for a colour
scheme: many Linux desktops and the offscreen/Xvfb platforms ignore that request, and an explicit palette looks
the same everywhere. The platform's own style stays (a native look on each OS); only styles that draw with the
system's colours and ignore a palette are swapped for Fusion. "system" puts back what the platform gave at
start-up. Spacing and colours beyond the palette come from the style sheets in resources/styles.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from workbench import resources

THEMES = ("system", "light", "dark")
_system_palette: QPalette | None = None
_system_style = ""
# Windows' classic styles paint with the system's colours whatever the palette says: a dark palette on them
# gives dark text on dark buttons. Every other platform style (windows11, macOS, Breeze, Fusion…) follows it.
PALETTE_BLIND_STYLES = {"windowsvista", "windows"}

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


def light_palette(app: QApplication) -> QPalette:
    """The style's own light palette with the app's blue for selections (the icon's and the dark theme's)."""
    palette = app.style().standardPalette()
    palette.setColor(QPalette.ColorRole.Highlight, QColor("#2f5bd3"))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
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
        app.setStyleSheet(style_sheet(dark=is_dark(app)))
        return
    wanted = style_for(theme, _system_style)
    if app.style().name().lower() != wanted.lower():
        app.setStyle(QStyleFactory.create(wanted))
    hints.setColorScheme(Qt.ColorScheme.Dark if theme == "dark" else Qt.ColorScheme.Light)
    app.setPalette(dark_palette() if theme == "dark" else light_palette(app))
    app.setStyleSheet(style_sheet(dark=theme == "dark"))


def style_for(theme: str, native: str) -> str:
    """The style to draw `theme` with: the platform's, unless it ignores palettes (then Fusion)."""
    return "Fusion" if theme != "system" and native.lower() in PALETTE_BLIND_STYLES else native


def style_sheet(*, dark: bool) -> str:
    """base.qss then the theme's colours (resources/styles)."""
    return resources.text("styles/base.qss") + "\n" + resources.text(f"styles/{'dark' if dark else 'light'}.qss")


def app_icon() -> QIcon:
    """The app icon in every size (resources/icons): window, task bar and Alt-Tab switcher pick theirs."""
    icon = QIcon()
    for size in resources.ICON_SIZES:
        icon.addFile(resources.path(f"icons/workbench-{size}.png"))
    return icon


def is_dark(app: QApplication | None = None) -> bool:
    """Whether the current palette is dark (pages pick readable badge and diff colours by it)."""
    app = app or QApplication.instance()
    return app is not None and app.palette().color(QPalette.ColorRole.Window).lightness() < 128
