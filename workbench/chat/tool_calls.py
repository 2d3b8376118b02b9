"""Tool calls: the tools a request offers (checked), which syntax the template's model calls them in
(`detect_tool_format`), a grammar that forces a call, and the events and results tool_parser.py produces.

Formats: Hermes/Qwen `<tool_call>{json}</tool_call>`, Llama 3.x JSON and `<|python_tag|>`, Mistral
`[TOOL_CALLS]` (list or `name[ARGS]{json}`), gpt-oss harmony `to=functions.NAME<|message|>{json}`, a bare
JSON object for other templates that read `tools`, and (tool_text_calls.py) Qwen3-Coder's XML and the pythonic
`[name(key=value)]` list.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InvalidParameter
from .gbnf import prefixed_rules, text_call_grammar

ToolFormat = Literal["hermes", "llama3", "mistral", "harmony", "json", "xml", "pythonic"]


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


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


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
    if fmt in ("xml", "pythonic"):
        return text_call_grammar(functions, fmt, schema_grammar)
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
        rules.append(prefixed_rules(schema_grammar(body), f"c{i}-"))
        alternatives.append(f"{prefix} c{i}-root" if prefix else f"c{i}-root")
    wrap = {"hermes": ('"<tool_call>\\n" ', ' "\\n</tool_call>"'), "mistral": ('"[TOOL_CALLS][" ', ' "]"')}
    head, tail = wrap.get(fmt, ("", ""))
    return f"root ::= {head}( {' | '.join(alternatives)} ){tail}\n" + "\n".join(rules)


# -- which syntax a template's model uses ------------------------------------------------------------------------
def detect_tool_format(template: str | None) -> ToolFormat:
    """The tool-call syntax a chat template teaches its model (json for templates that only read `tools`)."""
    source = template or ""
    if "<function=" in source and "<parameter=" in source:  # Qwen3-Coder's XML (its template has <tool_call> too)
        return "xml"
    if "[func_name1(" in source or "<|python_start|>" in source:  # Llama 3.2 / 4 pythonic templates
        return "pythonic"
    if "<|channel|>" in source and "to=functions" in source.replace(" ", ""):
        return "harmony"
    if "<tool_call>" in source:
        return "hermes"
    if "[TOOL_CALLS]" in source:
        return "mistral"
    if "<|python_tag|>" in source or ("<|start_header_id|>" in source and "parameters" in source):
        return "llama3"
    return "json"
