"""Entry point of the desktop app: one instance per data dir, then the main window.

A QLockFile in the data dir keeps two app instances from writing the same database at once; a lock left by a
crashed process is stale (its PID is gone) and is taken over. The bundled default model is prepared on a
worker thread after the window shows, so start-up stays fast.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

from PySide6.QtCore import QEvent, QLockFile, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from workbench.app import Workbench
from workbench.library.bundled import DEFAULT_PRESET
from workbench.paths import default_paths

from .file_handoff import FileHandoff, send_to_running
from .theme import app_icon


def setup_logging(paths) -> str:
    log_file = paths.logs / "workbench.log"
    handler = RotatingFileHandler(log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    return str(log_file)


def acquire_instance_lock(paths) -> QLockFile | None:
    lock = QLockFile(str(paths.data / "app.lock"))
    lock.setStaleLockTime(0)  # never guess by age; a lock is stale only when its process is gone
    if lock.tryLock(100):
        return lock
    if lock.removeStaleLockFile() and lock.tryLock(100):
        return lock
    return None


def main(argv: list[str] | None = None, open_file: Path | None = None) -> int:
    """Run the app; `open_file` (a .gguf or .wbundle, `workbench gui FILE`) is offered for import once shown."""
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("Workbench")
    app.setOrganizationName("Workbench")
    app.setDesktopFileName("workbench")  # Wayland and task bars match the window to workbench.desktop
    app.setWindowIcon(app_icon())
    paths = default_paths().ensure()
    log_file = setup_logging(paths)
    lock = acquire_instance_lock(paths)
    if lock is None and open_file is not None and send_to_running(paths.data, open_file):
        return 0  # the running window offers the import
    if lock is None:
        QMessageBox.warning(None, "Workbench is already running",
                            f"Another Workbench window is using {paths.data}. Switch to it, or close it first.")
        return 1
    Workbench.prefetch(paths, [DEFAULT_PRESET])  # what the window preloads first, started before it is built
    from .main_window import MainWindow

    wb, recovered = Workbench.open_recovering(paths, caller="gui")  # a damaged database is moved aside
    wb.sessions.recover_interrupted()  # answers a killed process left `streaming` become `interrupted`
    sys.excepthook = _excepthook_for(log_file)
    window = MainWindow(wb, log_file=log_file)
    window.show()
    # start-up objects live as long as the app: keep the collector from walking them all in a full pass
    # while an answer streams (one such pass took ~130 ms here, over the 50 ms stall budget)
    gc.freeze()
    if recovered:
        window.show_error("Database", recovered)
    window.start_background_setup()
    window.start_retention()  # the keep_* settings, applied at each start (workbench/retention.py)
    if open_file is not None:
        QTimer.singleShot(0, lambda: window.open_file(open_file))
    handoff = FileHandoff(paths.data, window)  # later `workbench gui FILE` starts hand their file here
    handoff.file_received.connect(lambda path: _bring_up(window).open_file(path))
    wake = _close_on_signals(window)  # noqa: F841  (the timer must live as long as the loop)
    probe = _first_paint_probe(window) if os.environ.get(FIRST_PAINT_ENV) else None  # noqa: F841
    logging.getLogger("ui").info("window shown for %s", paths.data)
    try:
        return app.exec()
    finally:
        wb.close()
        lock.unlock()


def _bring_up(window):
    """The window to the front (a file was opened from elsewhere, e.g. a double-click in the file manager)."""
    window.showNormal() if window.isMinimized() else window.show()
    window.raise_()
    window.activateWindow()
    return window


FIRST_PAINT_ENV = "WORKBENCH_QUIT_AFTER_FIRST_PAINT"  # for benchmarks (tests/benchmarks/bench_frozen.py)


class _FirstPaint(QObject):
    """Prints the CLOCK_MONOTONIC time of the window's first paint and quits: how a benchmark times the real
    start-up path (`workbench gui`, the frozen app) from outside the process."""

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Paint and not self.property("done"):
            self.setProperty("done", True)
            print(f"first-paint {time.monotonic()}", flush=True)
            QTimer.singleShot(0, watched.close)
        return False


def _first_paint_probe(window) -> QObject:
    probe = _FirstPaint(window)
    window.installEventFilter(probe)
    return probe


def _close_on_signals(window) -> QTimer:
    """Ctrl-C or SIGTERM in the launching terminal closes the window the normal way (state saved, tasks
    cancelled). Python runs signal handlers only between bytecodes, so a timer wakes it while Qt waits."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: window.close())
    timer = QTimer(interval=250)
    timer.timeout.connect(lambda: None)
    timer.start()
    return timer


def _excepthook_for(log_file: str):
    """An exception escaping a Qt slot is logged and shown with its details, never silently lost."""
    def hook(kind, value, tb) -> None:
        import traceback

        from workbench.errors import WorkbenchError

        from .errors import show_error

        if isinstance(value, WorkbenchError):  # a user error that reached a slot: show it plainly
            show_error(None, "Workbench", str(value))
            return
        logging.getLogger("ui").error("unexpected error", exc_info=(kind, value, tb))
        show_error(None, "Unexpected error", f"{kind.__name__}: {value}",
                   "".join(traceback.format_exception(kind, value, tb)), log_file)
    return hook


if __name__ == "__main__":
    sys.exit(main())
