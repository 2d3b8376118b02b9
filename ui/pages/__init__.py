"""The main window's pages, one module each, and the order the window shows them in.

`page_classes()` imports each page module; a page whose module does not exist yet (the Chat, Compare and Server
pages are built separately) is skipped, so the window works with any subset. Only a ModuleNotFoundError for that
very module is taken as "not there": a page that fails to import for any other reason is a bug and raises.
"""

from __future__ import annotations

import importlib

PAGES = (  # (name in the navigation list, module, class)
    ("Chat", "chat_page", "ChatPage"),
    ("Library", "library_page", "LibraryPage"),
    ("Hub", "hub_page", "HubPage"),
    ("Presets", "presets_page", "PresetsPage"),
    ("Compare", "compare_page", "ComparePage"),
    ("Server", "server_page", "ServerPage"),
    ("Settings", "settings_page", "SettingsPage"),
)


def page_classes() -> list[tuple[str, type]]:
    found = []
    for name, module_name, class_name in PAGES:
        qualified = f"{__name__}.{module_name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name != qualified:
                raise
            continue
        found.append((name, getattr(module, class_name)))
    return found
