"""Workbench: run open-weight language models locally — the core library behind the app, CLI and endpoint.

This package never imports PySide6 or `ui` (a test enforces it).
"""

__version__ = "0.1.0"
