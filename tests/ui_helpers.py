"""Helpers shared by the app's offscreen tests: open the main window on a page, wait for a TaskRunner task."""

from __future__ import annotations

from ui.main_window import MainWindow


def open_page(qtbot, wb, name: str):
    """A MainWindow over `wb` (closed by pytest-qt at the end) and its page `name`, shown."""
    window = MainWindow(wb)
    qtbot.addWidget(window)
    return window, window.show_page(name)


def wait_done(qtbot, task, timeout: int = 30000) -> None:
    """Wait for a Task's `done` (the runner starts jobs on the next event-loop turn, so none is missed)."""
    with qtbot.waitSignal(task.done, timeout=timeout):
        pass
