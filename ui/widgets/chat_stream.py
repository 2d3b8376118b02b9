"""Token streaming into the GUI without flooding it: worker threads append, a GUI timer drains in batches.

A signal per token would queue one event per token on the GUI thread (hundreds per second with several
streams) and make every piece trigger a re-render. Instead the worker appends pieces to a `PieceBuffer`
under a lock, and a QTimer on the GUI thread takes everything gathered every FLUSH_MS (≈ two frames at 60 Hz)
and emits one `flushed` signal with the text per key (a chat answer, a compare pane). The event loop never
holds more than one pending flush, whatever the token rate.
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
