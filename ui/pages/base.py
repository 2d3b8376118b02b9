"""The base of every page in the main window: its name in the navigation list and the hooks the window calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from workbench.app import Workbench

    from ..main_window import MainWindow


class Page(QWidget):
    """A page, built as `Page(window)`; the hooks do nothing unless a page overrides them."""

    name: ClassVar[str]  # in the navigation list, and the key of `window.pages`

    def __init__(self, window: MainWindow):
        super().__init__()
        self.window_ = window
        self.wb: Workbench = window.wb

    def focus_search(self) -> None:
        """Ctrl+F: move the focus to what searches this page."""

    def settings_changed(self) -> None:
        """The Settings page saved new settings."""

    def library_changed(self) -> None:
        """Models were imported, pulled, quantized or removed (or the bundled default model became ready)."""

    def window_closing(self) -> None:
        """The window closes: stop what this page owns (a stream, the endpoint) before the core closes."""
