"""Token streaming into the GUI without flooding it: worker threads append, a GUI timer drains in batches.

Workers append pieces to a `PieceBuffer` under a lock; a QTimer takes everything every FLUSH_MS and emits one
`flushed` signal per batch, so the event loop never holds more than one pending flush (docs/design.md §3).
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QTimer, Signal

FLUSH_MS = 25


class PieceBuffer(QObject):
    flushed = Signal(object)  # {key: text gathered since the last flush} (object: keys are not strings)

    def __init__(self, parent: QObject | None = None, interval_ms: int = FLUSH_MS):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: dict[object, list[str]] = {}
        self._timer = QTimer(self, interval=interval_ms, timeout=self.flush)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        """Stop the timer after delivering what is still pending."""
        self._timer.stop()
        self.flush()

    def append(self, key: object, text: str) -> None:
        """Called from any thread."""
        if text:
            with self._lock:
                self._pending.setdefault(key, []).append(text)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if pending:
            self.flushed.emit({key: "".join(parts) for key, parts in pending.items()})
