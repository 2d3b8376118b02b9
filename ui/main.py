"""Entry point of the desktop app: one instance per data dir, then the main window.

A QLockFile in the data dir keeps two app instances from writing the same database at once; a lock left by a
crashed process is stale (its PID is gone) and is taken over. The bundled default model is prepared on a
worker thread after the window shows, so start-up stays fast.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from logging.handlers import RotatingFileHandler

from PySide6.QtCore import QLockFile, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from workbench.app import Workbench
from workbench.paths import default_paths


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


def main(argv: list[str] | None = None) -> int:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("Workbench")
    app.setOrganizationName("Workbench")
    paths = default_paths().ensure()
    log_file = setup_logging(paths)
    lock = acquire_instance_lock(paths)
    if lock is None:
        QMessageBox.warning(None, "Workbench is already running",
                            f"Another Workbench window is using {paths.data}. Switch to it, or close it first.")
        return 1
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
    wake = _close_on_signals(window)  # noqa: F841  (the timer must live as long as the loop)
    logging.getLogger("ui").info("window shown for %s", paths.data)
    try:
        return app.exec()
    finally:
        wb.close()
        lock.unlock()


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
