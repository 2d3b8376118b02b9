"""The incremental tool-call parser: answer text in as it streams, call events out (chat/tool_calls.py).

Hand-written: no JSON library streams the raw text of one member (the arguments) while the rest of the object
is still arriving; json.loads checks every value once it is complete.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .json_scan import JsonScanner
from .tool_calls import (
    ContentText,
    Event,
    ParseResult,
    ToolCall,
    ToolCallArguments,
    ToolCallStart,
    ToolFormat,
    new_call_id,
)


class ToolCallParser:
    """Feed the answer text as it streams; `feed` returns events, `finish` the ParseResult.

    names: the offered functions (a call to another name is malformed). A malformed call (not JSON, no name,
    an unknown function, truncated) makes the whole answer text content, with no calls."""

    def __init__(self, fmt: ToolFormat, names: Iterable[str] = ()):
        self.format = fmt
        self.names = set(names)
        self._text = ""  # everything fed
        self._sent = 0  # characters of _text shown as content
        self._pos = 0  # characters of _text consumed by the parser
        self._calls: list[_CallReader] = []
        self._reader: _CallReader | None = None
        self._list_depth = 0  # inside a JSON list of calls (mistral, json)
        self._after_call = False  # calls began: the rest is more calls (or trailing text)
        self.failed = False

    # markers that start calls, per format
    _MARKERS: Mapping[str, tuple[str, ...]] = {
        "hermes": ("<tool_call>",), "mistral": ("[TOOL_CALLS]",), "llama3": ("<|python_tag|>",),
        "harmony": ("to=functions.",), "json": (),
    }

    def feed(self, text: str) -> list[Event]:
        self._text += text
        events: list[Event] = []
        if self.failed:
            return events
        while self._pos < len(self._text) and not self.failed:
            if self._reader is not None:
                if not self._feed_reader(events):
                    break
                continue
            if not self._scan_text(events):
                break
        return events

    def finish(self) -> ParseResult:
        """The end of the answer: a call still open is malformed unless its JSON is complete."""
        if self._reader is not None and not self.failed:
            self._reader.end_of_text()
            self._close_reader([])
        calls = [c.call for c in self._calls if c.call is not None]
        if self.failed or any(c.call is None for c in self._calls):
            return ParseResult([], self._text, True, self._text[self._sent:])
        if not calls:
            return ParseResult([], self._text, False, self._text[self._sent:])
        tail = self._text[self._calls[-1].ended_at:].strip()
        return ParseResult(calls, self._content(), False, tail)

    # -- text outside calls -----------------------------------------------------------------------------
    def _scan_text(self, events: list[Event]) -> bool:
        """Consume text up to the next call start; False when more text is needed."""
        rest = self._text[self._pos:]
        if self._calls:  # right after a call: its closing text (</tool_call>, <|call|>, a fence) goes with it
            closing = _closing_length(rest)
            if closing is None:
                return False
            self._pos += closing
            self._calls[-1].ended_at = self._pos
            rest = rest[closing:]
        markers = self._MARKERS[self.format]
        at, marker = _find_first(rest, markers)
        if at < 0 and self._bare_json_allowed():
            stripped = rest.lstrip()
            if not stripped:
                return False
            fence = stripped.startswith("```")
            if stripped[0] in "{[" or fence:
                return self._open_bare(rest, stripped, fence)
            if "```".startswith(stripped):
                return False
        if at < 0:
            keep = _partial_tail(rest, markers) if markers else 0
            self._emit_content(events, len(rest) - keep)
            return False
        self._emit_content(events, at)
        self._pos += len(marker)
        self._reader = _CallReader(self.format, marker, len(self._calls))
        self._calls.append(self._reader)
        self._after_call = True
        return True

    def _bare_json_allowed(self) -> bool:
        """A bare JSON call may open the answer (llama3, json, mistral's list without its marker)."""
        return self.format in ("json", "llama3") and not self._after_call and not self._text[:self._pos].strip()

    def _open_bare(self, rest: str, stripped: str, fence: bool) -> bool:
        start = opened = self._pos + len(rest) - len(stripped)
        if fence:
            newline = stripped.find("\n")
            if newline < 0:
                return False
            start += newline + 1
        self._pos = start
        self._reader = _CallReader(self.format, "", len(self._calls), started_at=opened)
        self._calls.append(self._reader)
        self._after_call = True
        return True

    def _emit_content(self, events: list[Event], n: int) -> None:
        if n <= 0:
            return
        piece = self._text[self._pos:self._pos + n]
        self._pos += n
        if not self._calls:  # text before any call is content; after calls, only kept for the final message
            self._sent = self._pos
            events.append(ContentText(piece))

    def _content(self) -> str:
        """The answer's text without its calls (text before the first call and after the last)."""
        first = self._calls[0].started_at if self._calls else len(self._text)
        head = self._text[:first]
        for marker in self._MARKERS[self.format]:
            head = head[: -len(marker)] if head.endswith(marker) else head
        tail = self._text[self._calls[-1].ended_at:] if self._calls else ""
        return (head + tail).strip()

    # -- inside a call ------------------------------------------------------------------------------------
    def _feed_reader(self, events: list[Event]) -> bool:
        reader = self._reader
        consumed = reader.feed(self._text, self._pos, events)
        self._pos += consumed
        if reader.failed:
            self.failed = True
            return False
        if not reader.done:
            return False
        self._close_reader(events)
        return True

    def _close_reader(self, events: list[Event]) -> None:
        reader = self._reader
        self._reader = None
        if reader.failed or reader.call is None:
            self.failed = True
            return
        if reader.call is not None and self.names and reader.call.name not in self.names:
            self.failed = True
            return
        reader.ended_at = self._pos
        for extra in reader.pending_calls:  # more calls in one list (mistral, json): each its own reader
            if self.names and extra.name not in self.names:
                self.failed = True
                return
            index = len(self._calls)
            follower = _CallReader(self.format, "", index)
            follower.call, follower.started_at, follower.ended_at = extra, reader.started_at, self._pos
            self._calls.append(follower)
            events += [ToolCallStart(index, extra.id, extra.name), ToolCallArguments(index, extra.arguments)]


_CLOSERS = ("</tool_call>", "<|call|>", "```", "<|eom_id|>")


def _closing_length(rest: str) -> int | None:
    """How much of `rest` is a call's closing text (0: none); None while it may still be one."""
    stripped = rest.lstrip()
    if not stripped:
        return None
    for closing in _CLOSERS:
        if stripped.startswith(closing):
            return len(rest) - len(stripped) + len(closing)
        if closing.startswith(stripped):
            return None
    return 0


def _find_first(text: str, markers: tuple[str, ...]) -> tuple[int, str]:
    best, which = -1, ""
    for marker in markers:
        at = text.find(marker)
        if at >= 0 and (best < 0 or at < best):
            best, which = at, marker
    return best, which


def _partial_tail(buf: str, markers: tuple[str, ...]) -> int:
    for k in range(min(len(buf), max(len(m) for m in markers) - 1), 0, -1):
        if any(m.startswith(buf[-k:]) for m in markers):
            return k
    return 0


@dataclass(eq=False)
class _CallReader:
    """One call region after its marker: reads the JSON (or harmony header + JSON), streaming the arguments."""

    format: str
    marker: str
    index: int
    started_at: int = -1
    call: ToolCall | None = None
    pending_calls: list[ToolCall] = field(default_factory=list)  # 2nd.. calls of a list
    failed: bool = False
    done: bool = False
    ended_at: int = -1
    _raw: str = ""
    _scanner: JsonScanner | None = None
    _name: str | None = None
    _mistral_args: bool = False
    _started: bool = False
    _args_sent: int = 0

    def feed(self, text: str, pos: int, events: list[Event]) -> int:
        """Consume from text[pos:]; returns how many characters were taken."""
        if self.started_at < 0:
            self.started_at = pos - len(self.marker)
        if self._scanner is None and not self._begin(text, pos):
            return 0
        consumed = self._scanner.feed(text[pos:])
        self._stream_arguments(events)
        if self._scanner.error:
            self.failed = True
        elif self._scanner.complete:
            self._complete(events)
        return consumed

    def _begin(self, text: str, pos: int) -> bool:
        """Find where the JSON starts (after a harmony header or mistral's name[ARGS]); False: wait."""
        rest = text[pos:]
        if self.format == "harmony":
            at = rest.find("<|message|>")
            if at < 0:
                return False
            match = re.match(r"([\w.\-]+)", rest)
            if not match:
                self.failed = True
                return False
            self._name = match.group(1)
            self._scanner = JsonScanner(skip=at + len("<|message|>"))
            return True
        if self.format == "mistral" and rest.lstrip()[:1] not in ("[", "{", ""):
            at = rest.find("[ARGS]")
            if at < 0:
                return False
            self._name = rest[:at].split("[CALL_ID]")[0].strip()
            self._scanner = JsonScanner(skip=at + len("[ARGS]"))
            self._mistral_args = True
            return True
        if not rest.strip():
            return False
        self._scanner = JsonScanner(skip=len(rest) - len(rest.lstrip()))
        return True

    def _stream_arguments(self, events: list[Event]) -> None:
        scanner = self._scanner
        direct = self.format == "harmony" or self._mistral_args
        if direct:
            name, args = self._name, scanner.raw
        else:
            name, args = scanner.member_string("name"), scanner.member_raw(("arguments", "parameters"))
        if scanner.in_list or name is None or args is None or not args.lstrip().startswith("{"):
            return  # lists and string-encoded arguments are sent whole when complete
        if not self._started:
            self._started = True
            self._id = new_call_id()
            events.append(ToolCallStart(self.index, self._id, name))
        if len(args) > self._args_sent:
            events.append(ToolCallArguments(self.index, args[self._args_sent:]))
            self._args_sent = len(args)

    def _complete(self, events: list[Event]) -> None:
        scanner = self._scanner
        try:
            value = json.loads(scanner.raw)
        except ValueError:
            self.failed = True
            return
        if self.format == "harmony" or self._mistral_args:
            items = [{"name": self._name, "arguments": value}]
        else:
            items = value if isinstance(value, list) else [value]
        calls = [_as_call(item) for item in items]
        if not calls or any(c is None for c in calls):
            self.failed = True
            return
        first = calls[0]
        if self._started:
            first = ToolCall(self._id, first.name, first.arguments)
            if first.arguments != _normalise(self._streamed_args()):
                self.failed = True  # the streamed text was not the arguments (e.g. a string value)
                return
        else:
            events += [ToolCallStart(self.index, first.id, first.name),
                       ToolCallArguments(self.index, first.arguments)]
        self.call, self.pending_calls, self.done = first, calls[1:], True

    def _streamed_args(self) -> str:
        if self.format == "harmony" or self._mistral_args:
            return self._scanner.raw
        return self._scanner.member_raw(("arguments", "parameters")) or ""

    def end_of_text(self) -> None:
        """The answer ended inside this call: complete only if the JSON is (harmony ends at <|call|>)."""
        if self._scanner is None or not self._scanner.complete:
            self.failed = True


def _normalise(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), ensure_ascii=False)
    except ValueError:
        return ""


def _as_call(item: Any) -> ToolCall | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        return None
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ToolCall(new_call_id(), item["name"], json.dumps(arguments, ensure_ascii=False))
