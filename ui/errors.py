"""How the app shows errors: user-caused ones plainly, unexpected ones with details and the log's path."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def show_error(parent: QWidget | None, title: str, message: str, details: str = "", log_file: str = "") -> None:
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=parent)
    if details:
        box.setIcon(QMessageBox.Icon.Critical)
        box.setInformativeText(f"This looks like a bug. Details are in the log: {log_file}" if log_file else "")
        box.setDetailedText(details)
    box.open()
