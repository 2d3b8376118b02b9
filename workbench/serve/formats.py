"""Translations shared by the OpenAI and Ollama routes: sampling fields, structured output, tools, logit bias,
keep-alive (docs/design.md §7.3).

OpenAI's sampling fields become Ollama PARAMETER names (chat/prepare.py merges them with a preset's), a
`response_format` a JSON schema for a grammar, tools a grammar or calls recognised in the text afterwards.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameter

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TOOL_CALL_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


# OpenAI request fields → Ollama PARAMETER names (max_completion_tokens is OpenAI's newer max_tokens)
OPENAI_PARAMETERS = {"max_tokens": "num_predict", "max_completion_tokens": "num_predict", "temperature": "temperature",
                     "top_p": "top_p", "top_k": "top_k", "min_p": "min_p", "seed": "seed", "stop": "stop",
                     "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty",
                     "repeat_penalty": "repeat_penalty"}


def openai_parameters(fields: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI-named request fields (None = not sent) → Ollama names; max_completion_tokens wins over max_tokens."""
    out: dict[str, Any] = {}
    for name, ollama in OPENAI_PARAMETERS.items():
        value = fields.get(name)
        if value is not None and not (name == "max_tokens" and fields.get("max_completion_tokens") is not None):
            out[ollama] = list(value) if name == "stop" and not isinstance(value, str) else value
    return out


def sampling_parameters(body) -> dict[str, Any]:
    """A request's OpenAI sampling fields as Ollama parameters (chat, completions and responses share it)."""
    return openai_parameters(body.model_dump(include=set(OPENAI_PARAMETERS)))


def response_schema(response_format) -> dict | None:
    """OpenAI response_format → JSON schema (None for plain text)."""
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return {"type": "object"}
    spec = response_format.json_schema or {}
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise InvalidParameter("response_format json_schema needs a 'schema' object")
    return schema


def ollama_schema(fmt) -> dict | None:
    """Ollama `format`: "json" (any object) or a JSON schema object."""
    if fmt in (None, ""):
        return None
    if fmt == "json":
        return {"type": "object"}
    if isinstance(fmt, dict):
        return fmt
    raise InvalidParameter(f"format must be \"json\" or a JSON schema object, not {type(fmt).__name__}")


def logit_bias(raw: dict[str, float] | None) -> dict[int, float] | None:
    if not raw:
        return None
    out = {}
    for key, value in raw.items():
        if not key.lstrip("-").isdigit():
            raise InvalidParameter("logit_bias keys must be token ids (integers as strings)")
        if not -100 <= value <= 100:
            raise InvalidParameter("logit_bias values must be between -100 and 100")
        out[int(key)] = float(value)
    return out


def keep_alive_seconds(value) -> float | None:
    """Ollama keep_alive → seconds (negative = forever, 0 = unload after this request); None = not given."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = _DURATION.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise InvalidParameter(f"keep_alive {text!r} is not a duration (e.g. 300, \"5m\", \"1h30m\", -1)")
    return sign * sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


# -- tools ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToolPlan:
    tools: list[dict] | None  # what the template sees
    parse_calls: bool  # look for tool calls in the output
    schema: dict | None  # a grammar forcing a call (tool_choice required / named)


def plan_tools(tools: list[dict] | None, tool_choice) -> ToolPlan:
    if not tools or tool_choice == "none":
        return ToolPlan(None, False, None)
    functions = {_function(t).get("name"): _function(t) for t in tools}
    if tool_choice in (None, "auto"):
        return ToolPlan(tools, True, None)
    if tool_choice == "required":
        return ToolPlan(tools, True, {"anyOf": [_call_schema(f) for f in functions.values()]})
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        if name not in functions:
            raise InvalidParameter(f"tool_choice names a function that is not among the tools: {name!r}")
        return ToolPlan(tools, True, _call_schema(functions[name]))
    raise InvalidParameter("tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", ...}")


def _function(tool: dict) -> dict:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidParameter("each tool must be {\"type\": \"function\", \"function\": {\"name\": ..., ...}}")
    return function


def _call_schema(function: dict) -> dict:
    parameters = function.get("parameters")
    if not isinstance(parameters, dict) or not parameters:
        parameters = {"type": "object"}
    return {"type": "object", "properties": {"name": {"const": function["name"]}, "arguments": parameters},
            "required": ["name", "arguments"]}


def parse_tool_calls(text: str) -> tuple[list[dict], str]:
    """(OpenAI-shaped tool calls found in the text, the text left over). No calls: ([], text)."""
    blocks = _TOOL_CALL_BLOCK.findall(text)
    candidates = blocks if blocks else [_strip_fence(text)]
    calls = []
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        for item in value if isinstance(value, list) else [value]:
            call = _as_call(item)
            if call is not None:
                calls.append(call)
    if not calls:
        return [], text
    rest = _TOOL_CALL_BLOCK.sub("", text).strip() if blocks else ""
    return calls, rest


def _strip_fence(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text[4:] if text.startswith("json") else text
    return text.strip()


def _as_call(item: Any) -> dict | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": item["name"], "arguments": json.dumps(arguments, ensure_ascii=False)}}


def template_messages(messages) -> list[dict]:
    """Request messages → what chat templates read (tool-call arguments as objects, as HF templates expect)."""
    out = []
    for message in messages:
        item: dict[str, Any] = {"role": "system" if message.role == "developer" else message.role,
                                "content": message.text()}
        if message.tool_calls:
            item["tool_calls"] = [{"id": call.id, "type": call.type, "function": {
                "name": call.function.name, "arguments": _arguments(call.function.arguments)}}
                for call in message.tool_calls]
        if getattr(message, "tool_call_id", None):
            item["tool_call_id"] = message.tool_call_id
        if getattr(message, "name", None):
            item["name"] = message.name
        out.append(item)
    return out


def _arguments(arguments) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments
