"""Translations shared by the OpenAI and Ollama routes: sampling fields, structured output, messages, logit
bias, keep-alive (docs/design.md §7.3).

OpenAI's sampling fields become Ollama PARAMETER names (chat/prepare.py merges them with a preset's), a
`response_format` a JSON schema for a grammar; tools are chat/tool_calls.py's.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidParameter

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


# OpenAI request fields → Ollama PARAMETER names (max_completion_tokens is OpenAI's newer max_tokens)
OPENAI_PARAMETERS = {"max_tokens": "num_predict", "max_completion_tokens": "num_predict", "temperature": "temperature",
                     "top_p": "top_p", "top_k": "top_k", "min_p": "min_p", "seed": "seed", "stop": "stop",
                     "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty",
                     "repeat_penalty": "repeat_penalty", "speculative": "speculative", "draft_max": "draft_max",
                     "draft_min": "draft_min", "draft_p_min": "draft_p_min", "draft_ngram": "draft_ngram"}


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


KEEP_ALIVE_FOREVER = 1e9  # seconds (~32 years): longer is "for ever" (-1), as a clock cannot wait that long


def _finite_keep_alive(seconds: float, given) -> float:
    if math.isnan(seconds):
        raise InvalidParameter(f"keep_alive {given!r} is not a duration (e.g. 300, \"5m\", \"1h30m\", -1)")
    return -1.0 if seconds > KEEP_ALIVE_FOREVER else max(seconds, -1.0)


def keep_alive_seconds(value) -> float | None:
    """Ollama keep_alive → seconds (negative = forever, 0 = unload after this request); None = not given."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _finite_keep_alive(float(value), value)
    text = str(value).strip()
    try:
        return _finite_keep_alive(float(text), text)
    except ValueError:
        pass
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = _DURATION.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise InvalidParameter(f"keep_alive {text!r} is not a duration (e.g. 300, \"5m\", \"1h30m\", -1)")
    return sign * sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def template_messages(messages) -> list[dict]:
    """Request messages → what chat templates read (tool-call arguments as objects, as HF templates expect);
    their image/audio parts are added by serve/media_parts.with_media."""
    out = []
    for message in messages:
        item: dict[str, Any] = {"role": "system" if message.role == "developer" else message.role,
                                "content": message.text()}
        if message.tool_calls:
            item["tool_calls"] = [{"id": call.id, "type": call.type, "function": {
                "name": call.function.name, "arguments": _arguments(call.function.arguments)}}
                for call in message.tool_calls]
        if getattr(message, "reasoning_content", None):  # chat/reasoning.py places it as the template expects
            item["reasoning_content"] = message.reasoning_content
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
