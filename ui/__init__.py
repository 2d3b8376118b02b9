"""Workbench's desktop app (PySide6): pages over the same core services the CLI and endpoint use."""
