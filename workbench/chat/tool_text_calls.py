"""Tool calls that are not JSON: Qwen3-Coder's XML (`<function=NAME><parameter=KEY>value</parameter>`) and the
pythonic list of Llama 3.2 / Llama 4 templates (`[get_weather(city="Paris"), add(a=1, b=2)]`).

Each call is held until it is complete, then sent whole (start + arguments), since its arguments only become JSON
once every parameter is read. Text before the calls streams as content. `make_tool_parser` picks this parser or
the JSON one (tool_parser.py) for a plan's format; both have the same feed / finish interface.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from collections.abc import Iterable

from .tool_calls import (
    ContentText,
    Event,
    ParseResult,
    ToolCall,
    ToolCallArguments,
    ToolCallStart,
    ToolPlan,
    new_call_id,
)
from .tool_parser import ToolCallParser


def make_tool_parser(plan: ToolPlan):
    if plan.format in ("xml", "pythonic"):
        return TextCallParser(plan.format, plan.tools or ())
    return ToolCallParser(plan.format, plan.names)


class TextCallParser:
    """feed(text) → events; finish() → ParseResult. A call that does not parse makes the whole answer content."""

    def __init__(self, fmt: str, tools: Iterable[dict]):
        self.format = fmt
        self._schemas = {t["function"]["name"]: t["function"].get("parameters") or {} for t in tools}
        self._text = ""
        self._sent = 0  # characters shown as content
        self._calls: list[ToolCall] = []
        self._content_end: int | None = None  # where the first call began
        self._tail_start = 0  # after the last complete call
        self.failed = False

    def feed(self, text: str) -> list[Event]:
        self._text += text
        if self.failed:
            return []
        events: list[Event] = []
        if self._content_end is None:
            self._stream_content(events)
        if self._content_end is not None:
            self._read_calls(events)
        return events

    def finish(self) -> ParseResult:
        if self._content_end is not None and not self.failed and self.format == "xml":
            self._read_calls([])
        pending = self._content_end is not None and self._text[self._tail_start:].strip()
        if self.failed or (self._content_end is not None and not self._calls) or (pending and self._opens_call()):
            return ParseResult([], self._text, True, self._text[self._sent:])
        if not self._calls:
            return ParseResult([], self._text, False, self._text[self._sent:])
        tail = self._text[self._tail_start:].strip().removeprefix("<|python_end|>").strip()  # Llama 4's closer
        return ParseResult(self._calls, (self._text[:self._content_end] + tail).strip(), False, tail)

    # -- content before the first call ---------------------------------------------------------------
    def _stream_content(self, events: list[Event]) -> None:
        start = _call_start(self.format, self._text)
        if start is None:  # no call yet: send all but what may still become one
            safe = _safe_length(self.format, self._text)
        else:
            safe, self._content_end, self._tail_start = start, start, start
        if safe > self._sent:
            events.append(ContentText(self._text[self._sent:safe]))
            self._sent = safe

    def _opens_call(self) -> bool:
        return _call_start(self.format, self._text[self._tail_start:]) is not None

    # -- the calls ----------------------------------------------------------------------------------------
    def _read_calls(self, events: list[Event]) -> None:
        reader = _read_xml if self.format == "xml" else _read_pythonic
        while not self.failed:
            rest = self._text[self._tail_start:]
            if _call_start(self.format, rest) is None:
                return
            found = reader(rest)
            if found is None:  # not complete yet
                return
            used, calls = found
            if calls is None or not self._accept(calls, events):
                self.failed = True
                return
            self._tail_start += used

    def _accept(self, calls: list[tuple[str, dict]], events: list[Event]) -> bool:
        if any(name not in self._schemas for name, _ in calls):
            return False
        for name, arguments in calls:
            call = ToolCall(new_call_id(), name, json.dumps(_typed(arguments, self._schemas[name]), ensure_ascii=False))
            index = len(self._calls)
            self._calls.append(call)
            events += [ToolCallStart(index, call.id, call.name), ToolCallArguments(index, call.arguments)]
        return True


# -- Qwen3-Coder XML --------------------------------------------------------------------------------------------
_XML_CALL = re.compile(r"\s*<tool_call>\s*<function=([\w.\-]+)>(.*?)</function>\s*</tool_call>", re.DOTALL)
_XML_PARAMETER = re.compile(r"<parameter=([\w.\-]+)>\n?(.*?)\n?</parameter>", re.DOTALL)
_PYTHON_OPEN = ("<|python_start|>", "[")


def _call_start(fmt: str, text: str) -> int | None:
    if fmt == "xml":
        at = text.find("<tool_call>")
        return at if at >= 0 else None
    match = re.match(r"\s*(?:<\|python_start\|>\s*)?\[\s*[A-Za-z_][\w.]*\s*\(", text)
    return match.start() if match and not text[:match.start()].strip() else None


def _safe_length(fmt: str, text: str) -> int:
    """How much of `text` cannot become the start of a call."""
    if fmt == "xml":
        for k in range(min(len(text), len("<tool_call>") - 1), 0, -1):
            if "<tool_call>".startswith(text[-k:]):
                return len(text) - k
        return len(text)
    # pythonic calls open the answer: hold it while it may still be `[name(`
    stripped = text.lstrip()
    if not stripped or re.fullmatch(r"(?:<\|python_start\|>\s*)?\[?\s*[A-Za-z_]?[\w.]*\s*", stripped) or \
            any(opening.startswith(stripped) for opening in _PYTHON_OPEN):
        return 0
    return len(text)


def _read_xml(text: str) -> tuple[int, list[tuple[str, dict]] | None] | None:
    match = _XML_CALL.match(text)
    if match is None:
        return None if "</tool_call>" not in text else (len(text), None)
    arguments = {key: value for key, value in _XML_PARAMETER.findall(match.group(2))}
    return match.end(), [(match.group(1), arguments)]


# -- pythonic ---------------------------------------------------------------------------------------------------
def _read_pythonic(text: str) -> tuple[int, list[tuple[str, dict]] | None] | None:
    """The call list once its closing bracket arrives (each `]` is tried: a string may hold one)."""
    opened = text.find("[")
    for close in (m.end() for m in re.finditer(r"\]", text[opened:])):
        end = opened + close
        try:
            tree = ast.parse(text[opened:end], mode="eval").body
        except SyntaxError:
            continue
        rest = text[end:]
        if rest.lstrip().startswith("<|python_end|>"):  # Llama 4 closes the list with it
            end += len(rest) - len(rest.lstrip()) + len("<|python_end|>")
        return end, _python_calls(tree)
    return None


def _python_calls(tree: ast.expr) -> list[tuple[str, dict]] | None:
    if not isinstance(tree, ast.List) or not tree.elts:
        return None
    calls = []
    for node in tree.elts:
        if not isinstance(node, ast.Call) or node.args or not isinstance(node.func, (ast.Name, ast.Attribute)):
            return None
        try:
            arguments = {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg is not None}
        except ValueError:
            return None
        calls.append((ast.unparse(node.func), arguments))
    return calls


_JSON_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


def _literal(node: ast.expr):
    """A Python literal, accepting JSON's true / false / null too (small models mix the two)."""
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)}
    return ast.literal_eval(node)


# -- arguments typed by the tool's schema ------------------------------------------------------------------------
def _typed(arguments: dict, schema: dict) -> dict:
    """XML parameters arrive as text: a string property keeps it, any other is read as JSON when it parses."""
    properties = schema.get("properties") or {}
    out = {}
    for key, value in arguments.items():
        if isinstance(value, str) and (properties.get(key) or {}).get("type") != "string":
            with contextlib.suppress(ValueError):  # not JSON: the text itself
                value = json.loads(value)
        out[key] = value
    return out
