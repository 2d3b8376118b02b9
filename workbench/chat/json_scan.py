"""Where a JSON value being streamed ends, and the raw text of its top-level members so far (tool_parser.py).

Hand-written: JSON libraries parse complete documents or emit events, but none hands out a member's raw text
while it is still arriving — what streamed tool-call arguments are.
"""

from __future__ import annotations

import json


class JsonScanner:
    """Tracks one JSON value (object or list) as its text arrives: where it ends, and the raw text of an
    object's top-level members. Not a validator: json.loads checks the value once it is complete."""

    def __init__(self, skip: int = 0):
        self._skip = skip  # characters before the value (a header) to pass over
        self.raw = ""
        self.depth = 0
        self.complete = False
        self.error = False
        self.in_list = False
        self._in_string = self._escape = False
        self._string_start = -1
        self._members: dict[str, list[int]] = {}  # key -> [start, end) in raw; end -1 while it is arriving
        self._key = ""
        self._phase = "key"  # key -> colon -> value -> in_value -> after (-> key at a comma)

    def feed(self, text: str) -> int:
        """Consume text up to the end of the value; returns how many characters were taken."""
        taken = min(self._skip, len(text))
        self._skip -= taken
        for i in range(taken, len(text)):
            if self.complete or self.error:
                return i
            self._char(text[i])
        return len(text)

    def _char(self, ch: str) -> None:
        if not self.raw:
            if ch.isspace():
                return
            if ch not in "{[":
                self.error = True
                return
            self.in_list = ch == "["
        self.raw += ch
        i = len(self.raw) - 1
        top = self.depth == 1 and not self.in_list
        if self._in_string:
            self._string_char(ch, i, top)
            return
        if top and self._phase == "value" and not ch.isspace():
            self._members[self._key] = [i, -1]
            self._phase = "in_value"
        if ch == '"':
            self._in_string, self._string_start = True, i
        elif ch in "{[":
            self.depth += 1
        elif ch in "}]":
            self.depth -= 1
            if self.depth == 1 and not self.in_list and self._phase == "in_value":
                self._end(i + 1)
            elif self.depth == 0:
                if self._phase == "in_value":
                    self._end(i)
                self.complete = True
        elif top and ch == ":" and self._phase == "colon":
            self._phase = "value"
        elif top and ch == ",":
            if self._phase == "in_value":
                self._end(i)
            self._phase = "key"

    def _string_char(self, ch: str, i: int, top: bool) -> None:
        if self._escape:
            self._escape = False
        elif ch == "\\":
            self._escape = True
        elif ch == '"':
            self._in_string = False
            if top and self._phase == "key":
                try:
                    self._key = json.loads(self.raw[self._string_start:])
                except ValueError:
                    self.error = True
                self._phase = "colon"
            elif top and self._phase == "in_value":
                self._end(i + 1)

    def _end(self, end: int) -> None:
        span = self._members.get(self._key)
        if span is not None and span[1] < 0:
            span[1] = end
        self._phase = "after"

    def member_raw(self, keys: tuple[str, ...]) -> str | None:
        """The raw text of a top-level member's value so far (None if it has not begun)."""
        for key in keys:
            span = self._members.get(key)
            if span is not None:
                return self.raw[span[0]: span[1] if span[1] >= 0 else len(self.raw)].rstrip()
        return None

    def member_string(self, key: str) -> str | None:
        """A top-level string member's value once complete (None before)."""
        span = self._members.get(key)
        if span is None or span[1] < 0:
            return None
        try:
            value = json.loads(self.raw[span[0]:span[1]])
        except ValueError:
            return None
        return value if isinstance(value, str) else None
