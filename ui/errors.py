"""How the app shows errors: user-caused ones plainly, unexpected ones with details and the log's path.

A WorkbenchError's message already names the problem and what to do, so it is shown as is. Anything else is a
bug: the dialog says so, points at the log file and carries the traceback under "Show Details…".
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

_open_boxes: set[QMessageBox] = set()  # a parentless dialog must outlive the call that opened it


def show_error(parent: QWidget | None, title: str, message: str, details: str = "", log_file: str = "") -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=parent)
    if details:
        box.setIcon(QMessageBox.Icon.Critical)
        where = f"Details are in the log: {log_file}" if log_file else "Details are below."
        box.setInformativeText(f"This looks like a bug in Workbench. {where}")
        box.setDetailedText(details)
    _open_boxes.add(box)
    box.finished.connect(lambda _result: _open_boxes.discard(box))
    box.open()
    return box
