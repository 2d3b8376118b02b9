"""The one contract for long work: `Progress` reports and `CancelToken` stops (docs/design.md §3).

Every long operation takes `on_progress: ProgressCallback = no_progress` and `cancel: CancelToken | None`;
callbacks run on the worker thread, carry frozen dataclasses and are throttled to 20 per second (`throttled`,
`ProgressMeter`), the final report always delivered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import Cancelled

MAX_REPORTS_PER_SECOND = 20


@dataclass(frozen=True)
class Progress:
    """A snapshot of one long operation. `total` is None when unknown; rates are per second."""

    task: str
    completed: int = 0
    total: int | None = None
    unit: str = "B"
    message: str = ""
    rate: float | None = None
    eta_seconds: float | None = None

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.completed / self.total)

    @property
    def done(self) -> bool:
        return self.total is not None and self.completed >= self.total


ProgressCallback = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """The default callback: report nothing."""


class CancelToken:
    """A thread-safe flag. Cancel from any thread; the worker checks it between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self, what: str = "operation") -> None:
        if self._event.is_set():
            raise Cancelled(f"{what} was cancelled")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or timeout; True when cancelled. Lets workers sleep interruptibly."""
        return self._event.wait(timeout)


def check(cancel: CancelToken | None, what: str = "operation") -> None:
    if cancel is not None:
        cancel.raise_if_cancelled(what)


class ProgressMeter:
    """Turns raw counters into throttled Progress reports with rate and ETA.

    `advance(n)` is cheap enough to call per chunk; it only builds a Progress and calls back when at least
    1/20 s passed since the last report. `finish()` always reports.
    """

    def __init__(self, task: str, total: int | None, callback: ProgressCallback, unit: str = "B",
                 start_at: int = 0):
        self.task = task
        self.total = total
        self.unit = unit
        self.completed = start_at
        self._callback = callback
        self._started = time.monotonic()
        self._start_at = start_at
        self._last_report = 0.0

    def advance(self, amount: int, message: str = "") -> None:
        self.completed += amount
        now = time.monotonic()
        if now - self._last_report >= 1.0 / MAX_REPORTS_PER_SECOND:
            self._last_report = now
            self._callback(self.snapshot(message, now))

    def finish(self, message: str = "") -> None:
        self._callback(self.snapshot(message, time.monotonic()))

    def snapshot(self, message: str = "", now: float | None = None) -> Progress:
        elapsed = (now or time.monotonic()) - self._started
        done_here = self.completed - self._start_at
        rate = done_here / elapsed if elapsed > 0 and done_here > 0 else None
        eta = (self.total - self.completed) / rate if rate and self.total is not None else None
        return Progress(self.task, self.completed, self.total, self.unit, message, rate, eta)
