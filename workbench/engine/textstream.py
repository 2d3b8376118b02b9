"""Turning token bytes into text events: incremental UTF-8, and stop strings searched only in the tail.

Written by hand because no library does streaming stop-string matching (docs/design.md §4.6).
"""

from __future__ import annotations

import codecs


class TextStream:
    def __init__(self, stops: tuple[str, ...] = ()):
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._stops = tuple(s for s in stops if s)
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._pending = ""
        self.stopped_by: str | None = None
        self.decoded = 0  # characters decoded so far (emitted or held back): where the next token's text starts

    def feed(self, data: bytes) -> str:
        """Add a token's bytes; returns the text that is safe to emit now ('' if none)."""
        if self.stopped_by is not None:
            return ""
        text = self._decoder.decode(data)
        self.decoded += len(text)
        if not self._stops:
            return text
        buf = self._pending + text
        cut = -1
        for stop in self._stops:
            at = buf.find(stop)
            if at >= 0 and (cut < 0 or at < cut):
                cut, self.stopped_by = at, stop
        if cut >= 0:
            self._pending = ""
            return buf[:cut]
        keep = self._partial_stop_length(buf)
        self._pending = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep]

    def _partial_stop_length(self, buf: str) -> int:
        for k in range(min(self._hold, len(buf)), 0, -1):
            tail = buf[-k:]
            if any(stop.startswith(tail) for stop in self._stops):
                return k
        return 0

    def flush(self) -> str:
        """At the end of generation: whatever is held back (an incomplete character becomes U+FFFD)."""
        if self.stopped_by is not None:
            return ""
        out = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return out
