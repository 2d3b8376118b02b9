"""TaskRunner: run core work off the GUI thread and turn its callbacks into Qt signals (docs/design.md §3).

`runner.submit(name, fn, *args, **kwargs)` calls `fn(*args, on_progress=..., cancel=token, **kwargs)` on a
QThreadPool worker and returns a `Task` whose signals arrive on the GUI thread; `Task.cancel()` sets the token
directly. Jobs start on the next event-loop turn, so the caller can connect first, however fast the job.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from workbench.errors import Cancelled, WorkbenchError
from workbench.tasks import CancelToken, Progress

log = logging.getLogger(__name__)


class Task(QObject):
    progress = Signal(object)  # workbench.tasks.Progress
    item = Signal(object)  # one streamed item (stream=True)
    finished = Signal(object)  # the return value
    failed = Signal(str, str)  # user-facing message, details ("" for a WorkbenchError)
    cancelled = Signal()
    done = Signal()  # after any of finished/failed/cancelled

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.token = CancelToken()
        self.running = True

    def cancel(self) -> None:
        self.token.cancel()


class _Job(QRunnable):
    def __init__(self, task: Task, fn: Callable, args, kwargs, progress: bool, stream: bool):
        super().__init__()
        self.task, self.fn, self.args, self.kwargs = task, fn, args, kwargs
        self.with_progress, self.stream = progress, stream
        self.setAutoDelete(True)

    def run(self) -> None:
        task = self.task
        try:
            task.token.raise_if_cancelled(task.name)  # cancelled before it started (e.g. the window closed)
            kwargs = dict(self.kwargs)
            if self.with_progress:
                kwargs.update(on_progress=self._report, cancel=task.token)
            result = self.fn(*self.args, **kwargs)
            if self.stream:
                for piece in result:
                    task.item.emit(piece)
                    if task.token.cancelled:
                        close = getattr(result, "close", None)
                        if close:
                            close()
                        break
                result = getattr(result, "result", None)
            if task.token.cancelled and not self.stream:
                task.cancelled.emit()
            else:
                task.finished.emit(result)
        except Cancelled:
            task.cancelled.emit()
        except WorkbenchError as exc:
            task.failed.emit(str(exc), "")
        except Exception as exc:  # unexpected: the GUI shows details and the log file
            log.exception("task %s failed", task.name)
            task.failed.emit(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        finally:
            task.running = False
            task.done.emit()

    def _report(self, progress: Progress) -> None:
        self.task.progress.emit(progress)


class TaskRunner(QObject):
    def __init__(self, max_threads: int = 4):
        super().__init__()
        self.pool = QThreadPool()
        self.pool.setMaxThreadCount(max_threads)
        self.active: set[Task] = set()

    def submit(self, name: str, fn: Callable, *args, progress: bool = True, stream: bool = False,
               **kwargs) -> Task:
        task = Task(name)
        self.active.add(task)
        task.done.connect(lambda: self.active.discard(task))
        job = _Job(task, fn, args, kwargs, progress, stream)
        QTimer.singleShot(0, self, lambda: self.pool.start(job))
        return task

    def cancel_all(self) -> None:
        for task in list(self.active):
            task.cancel()

    def wait(self, msecs: int = 30000) -> bool:
        """Wait for running jobs (jobs not started yet never start once their token is cancelled)."""
        return self.pool.waitForDone(msecs)
