"""The main window's pages, one module each (every page subclasses base.Page), in the order the window shows them."""

from __future__ import annotations

from .base import Page
from .chat_page import ChatPage
from .compare_page import ComparePage
from .evals_page import EvalsPage
from .hub_page import HubPage
from .library_page import LibraryPage
from .presets_page import PresetsPage
from .server_page import ServerPage
from .settings_page import SettingsPage

PAGES: tuple[type[Page], ...] = (ChatPage, LibraryPage, HubPage, PresetsPage, ComparePage, EvalsPage, ServerPage,
                                 SettingsPage)

__all__ = ["PAGES", "ChatPage", "Page"]
