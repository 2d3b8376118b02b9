"""Tool calls: the tools a request offers (checked), which syntax the template's model calls them in, a grammar
that forces a call, and an incremental parser turning streamed answer text into call events.

Formats: Hermes/Qwen `<tool_call>{json}</tool_call>`, Llama 3.x JSON and `<|python_tag|>`, Mistral
`[TOOL_CALLS]` (list or `name[ARGS]{json}`), gpt-oss harmony `to=functions.NAME<|message|>{json}`, and a bare
JSON object for other templates that read `tools`. The scanner is hand-written: no JSON library streams the raw
text of one member (the arguments) while the rest of the object is still arriving.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InvalidParameter

ToolFormat = Literal["hermes", "llama3", "mistral", "harmony", "json"]


# -- events ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContentText:
    """Answer text that is not part of a call."""

    text: str


@dataclass(frozen=True)
class ToolCallStart:
    """A call begins: its index among this answer's calls, a fresh id, the function's name."""

    index: int
    id: str
    name: str


@dataclass(frozen=True)
class ToolCallArguments:
    """A piece of a call's arguments (JSON text; the pieces of one call concatenate to its arguments)."""

    index: int
    fragment: str


Event = ContentText | ToolCallStart | ToolCallArguments


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text of an object

    def openai(self, index: int | None = None) -> dict:
        out = {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}
        return out if index is None else {"index": index, **out}

    def ollama(self) -> dict:
        return {"function": {"name": self.name, "arguments": json.loads(self.arguments)}}


@dataclass(frozen=True)
class ParseResult:
    """The end of an answer: its calls and content, or (malformed) the whole text as content and no calls.

    unsent: text a stream has not shown as content yet (a malformed call's raw text)."""

    calls: list[ToolCall]
    content: str
    malformed: bool = False
    unsent: str = ""


# -- tools and tool_choice -----------------------------------------------------------------------------------
def check_tools(tools: Iterable[Any] | None) -> list[dict]:
    """OpenAI-shaped tools, checked: each `{"type": "function", "function": {"name", "parameters"}}` whose
    parameters are a JSON Schema object. InvalidParameter (a 400) names the first bad tool."""
    out = []
    for i, tool in enumerate(tools or ()):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type", "function") != "function" or not isinstance(function, dict):
            raise InvalidParameter(f"tools[{i}] must be {{\"type\": \"function\", \"function\": {{...}}}}")
        name = function.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", name):
            raise InvalidParameter(f"tools[{i}].function.name must be 1-64 letters, digits, _ . or -")
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        problem = schema_problem(parameters)
        if problem:
            raise InvalidParameter(f"tools[{i}] ({name}): parameters is not a JSON Schema: {problem}")
        out.append({**tool, "type": "function", "function": {**function, "parameters": parameters}})
    names = [t["function"]["name"] for t in out]
    if len(set(names)) != len(names):
        raise InvalidParameter("two tools have the same function name")
    return out


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a JSON Schema for a function's arguments (an object schema), or None."""
    from jsonschema import exceptions, validators

    if not isinstance(schema, dict):
        return f"parameters must be an object, not {type(schema).__name__}"
    if schema.get("type", "object") != "object":
        return f"parameters.type must be \"object\" (arguments are named), not {schema.get('type')!r}"
    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the schema"
        return f"{where}: {exc.message}"
    return None


@dataclass(frozen=True)
class ToolPlan:
    """What a request's tools and tool_choice mean: what the template sees, whether to parse calls, and the
    grammar forcing one (tool_choice required or a named function)."""

    tools: list[dict] | None
    format: ToolFormat = "json"
    parse: bool = False
    grammar: str | None = None
    names: tuple[str, ...] = ()


NO_TOOLS = ToolPlan(None)


def plan_tools(tools: list | None, tool_choice: Any, fmt: ToolFormat,
               schema_grammar: Callable[[dict], str] | None = None) -> ToolPlan:
    """tools + tool_choice (auto / none / required / {"type": "function", "function": {"name"}}) → ToolPlan.

    schema_grammar(json_schema) → GBNF text (the engine's converter) builds the forcing grammar."""
    checked = check_tools(tools)
    if not checked or tool_choice == "none":
        return NO_TOOLS
    functions = {t["function"]["name"]: t["function"] for t in checked}
    names = tuple(functions)
    if tool_choice in (None, "auto"):
        return ToolPlan(checked, fmt, True, None, names)
    if tool_choice == "required":
        chosen = list(functions.values())
    elif isinstance(tool_choice, dict) and isinstance(tool_choice.get("function"), dict):
        name = tool_choice["function"].get("name")
        if name not in functions:
            raise InvalidParameter(f"tool_choice names a function that is not among the tools: {name!r}")
        chosen = [functions[name]]
    else:
        raise InvalidParameter("tool_choice must be \"none\", \"auto\", \"required\" or "
                               "{\"type\": \"function\", \"function\": {\"name\": ...}}")
    grammar = call_grammar(chosen, fmt, schema_grammar) if schema_grammar is not None else None
    return ToolPlan(checked, fmt, True, grammar, names)


def call_grammar(functions: list[dict], fmt: ToolFormat, schema_grammar: Callable[[dict], str]) -> str:
    """GBNF for exactly one call to one of `functions` in the model's syntax, arguments valid for the schema."""
    key = "parameters" if fmt == "llama3" else "arguments"
    alternatives, rules = [], []
    for i, function in enumerate(functions):
        params = function.get("parameters") or {"type": "object"}
        if fmt == "harmony":  # the name is in the header, the message is the arguments alone
            body, prefix = params, json.dumps(f"<|channel|>commentary to=functions.{function['name']} "
                                              "<|constrain|>json<|message|>")
        else:
            body = {"type": "object", "properties": {"name": {"const": function["name"]}, key: params},
                    "required": ["name", key]}
            prefix = ""
        rules.append(_prefixed(schema_grammar(body), f"c{i}-"))
        alternatives.append(f"{prefix} c{i}-root" if prefix else f"c{i}-root")
    wrap = {"hermes": ('"<tool_call>\\n" ', ' "\\n</tool_call>"'), "mistral": ('"[TOOL_CALLS][" ', ' "]"')}
    head, tail = wrap.get(fmt, ("", ""))
    return f"root ::= {head}( {' | '.join(alternatives)} ){tail}\n" + "\n".join(rules)


_GBNF_PIECE = re.compile(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]|[A-Za-z][A-Za-z0-9-]*|.', re.DOTALL)


def _prefixed(grammar: str, prefix: str) -> str:
    """Every rule name of a GBNF text prefixed (so several schemas' rules can share one grammar); quoted
    literals and character classes are left alone."""
    return "".join(prefix + piece if piece[0].isalpha() else piece for piece in _GBNF_PIECE.findall(grammar))


# -- which syntax a template's model uses ------------------------------------------------------------------------
def detect_tool_format(template: str | None) -> ToolFormat:
    """The tool-call syntax a chat template teaches its model (json for templates that only read `tools`)."""
    source = template or ""
    if "<|channel|>" in source and "to=functions" in source.replace(" ", ""):
        return "harmony"
    if "<tool_call>" in source:
        return "hermes"
    if "[TOOL_CALLS]" in source:
        return "mistral"
    if "<|python_tag|>" in source or ("<|start_header_id|>" in source and "parameters" in source):
        return "llama3"
    return "json"


# -- the streaming parser ------------------------------------------------------------------------------------------
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


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


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
    _scanner: _JsonScanner | None = None
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
            self._scanner = _JsonScanner(skip=at + len("<|message|>"))
            return True
        if self.format == "mistral" and rest.lstrip()[:1] not in ("[", "{", ""):
            at = rest.find("[ARGS]")
            if at < 0:
                return False
            self._name = rest[:at].split("[CALL_ID]")[0].strip()
            self._scanner = _JsonScanner(skip=at + len("[ARGS]"))
            self._mistral_args = True
            return True
        if not rest.strip():
            return False
        self._scanner = _JsonScanner(skip=len(rest) - len(rest.lstrip()))
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


class _JsonScanner:
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
