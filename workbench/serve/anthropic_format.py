"""Translations for Anthropic's Messages API: a request's system, messages and tools → what chat templates read
(the shape formats.template_messages gives the OpenAI route), sampling fields → Ollama parameter names, and the
answer's usage, stop reason and error bodies in Anthropic's shape (docs/design.md §7.3).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

from ..chat.reasoning import Thinking
from ..errors import InvalidParameter
from . import formats
from .anthropic_schemas import (
    CountTokensRequest,
    ImageBlock,
    MessagesRequest,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from .media_parts import anthropic_image

ROUTE_PREFIX = "/v1/messages"
NO_IMAGES = ("image blocks are supported in user messages only (not in assistant turns or tool results): "
             "put the image in a user message")
# Anthropic's error types by HTTP status; other 4xx are invalid requests, other 5xx api_error
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error"}
OVERLOADED = 529  # Anthropic's status for "try again shortly"; a full queue here


def is_anthropic_path(path: str) -> bool:
    return path == ROUTE_PREFIX or path.startswith(ROUTE_PREFIX + "/")


def error_status(status: int, code: str | None) -> int:
    """The status Anthropic's clients expect: a full queue is 529 overloaded (its clients retry it)."""
    return OVERLOADED if code == "queue_full" else status


def error_body(status: int, message: str) -> dict:
    kind = ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def error_response(status: int, message: str, code: str | None, headers: dict | None = None) -> JSONResponse:
    status = error_status(status, code)
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


# -- request → template ---------------------------------------------------------------------------------
def sampling_parameters(body: MessagesRequest) -> dict[str, Any]:
    """max_tokens, temperature, top_p, top_k and stop_sequences as Ollama parameters (a preset's are overridden)."""
    return formats.openai_parameters({"max_tokens": body.max_tokens, "temperature": body.temperature,
                                      "top_p": body.top_p, "top_k": body.top_k, "stop": body.stop_sequences})


def prepare_options(body: CountTokensRequest) -> dict[str, Any]:
    """What shapes the render besides the messages, as chat/prepare.py takes it: tools, tool_choice, thinking,
    and the prefill."""
    return {"tools": _openai_tools(body), "tool_choice": _tool_choice(body), "thinking": _thinking(body),
            "prefill": prefill_text(body)}


def prefill_text(body: CountTokensRequest) -> str | None:
    """A last assistant message is the start of the answer (a prefill), which the model continues; it may hold
    text only. None when the messages end with a user turn."""
    last = body.messages[-1]
    if last.role != "assistant":
        return None
    blocks = last.blocks()
    if any(block.type != "text" for block in blocks):
        raise InvalidParameter("a last assistant message (a prefill) may hold only text blocks")
    return "".join(block.text for block in blocks)


def output_schema(body: MessagesRequest) -> dict | None:
    """output_config.format's JSON schema (the engine turns it into a grammar), or None."""
    fmt = body.output_config.format if body.output_config is not None else None
    return fmt.schema_ if fmt is not None else None


def _openai_tools(body: CountTokensRequest) -> list[dict] | None:
    """Anthropic tools → the OpenAI function shape chat templates read (`parameters` = the input_schema);
    chat/tool_calls.py checks each schema (not JSON Schema: a 400 naming the tool)."""
    if not body.tools:
        return None
    return [{"type": "function", "function": {"name": tool.name, "description": tool.description or "",
                                              "parameters": tool.input_schema}} for tool in body.tools]


def _tool_choice(body: CountTokensRequest) -> str | dict | None:
    """auto / any / tool NAME / none → OpenAI's auto / required / a named function / none."""
    choice = body.tool_choice
    if choice is None or not body.tools:
        return None
    if choice.type == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return {"auto": "auto", "any": "required", "none": "none"}[choice.type]


EFFORT_LEVELS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def _thinking(body: CountTokensRequest) -> Thinking | None:
    """thinking → chat/reasoning.py's Thinking: `enabled` asks for it (a 400 from a model that cannot think),
    with its budget and output_config's effort as the level; `disabled` turns it off; `adaptive` and
    `between_tools` leave it to the model (its template's default, or a preset's `think`)."""
    config = body.thinking
    if config is None or config.type in ("adaptive", "between_tools"):
        return None
    if config.type == "disabled":
        return Thinking(enabled=False)
    effort = body.output_config.effort if body.output_config is not None else None
    return Thinking(enabled=True, level=EFFORT_LEVELS.get(effort or ""), budget=config.budget_tokens)


def template_messages(body: CountTokensRequest, *, fetch_urls: bool = False) -> list[dict]:
    """system + messages → the template's messages: tool_use blocks become an assistant's tool_calls, each
    tool_result a `tool` message naming its call; a result for an id no earlier tool_use gave is a 400."""
    out: list[dict] = []
    system = body.system_text()
    if system:
        out.append({"role": "system", "content": system})
    messages = body.messages[:-1] if prefill_text(body) is not None else body.messages
    tool_names: dict[str, str] = {}  # tool_use id -> tool name, from the assistant turns so far
    for index, message in enumerate(messages):
        blocks = message.blocks()
        if message.role == "assistant":
            out.append(_assistant(blocks, tool_names))
        else:
            out += _user(blocks, tool_names, index, fetch_urls)
    return out


def _assistant(blocks: list, tool_names: dict[str, str]) -> dict:
    text, calls, thinking = [], [], []
    for block in blocks:
        if isinstance(block, TextBlock):
            text.append(block.text)
        elif isinstance(block, ToolUseBlock):
            tool_names[block.id] = block.name
            calls.append({"id": block.id, "type": "function",
                          "function": {"name": block.name, "arguments": block.input}})
        elif isinstance(block, ThinkingBlock):
            thinking.append(block.thinking)
        elif isinstance(block, ImageBlock):
            raise InvalidParameter(NO_IMAGES)
        elif not isinstance(block, RedactedThinkingBlock):  # redacted thinking is Anthropic's: nothing to read
            raise InvalidParameter(f"an assistant message cannot hold {block.type} blocks")
    item: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    if calls:
        item["tool_calls"] = calls
    if thinking:  # the field Qwen3 / DeepSeek templates read; the template decides whether it is shown
        item["reasoning_content"] = "".join(thinking)
    return item


def _user(blocks: list, tool_names: dict[str, str], index: int, fetch_urls: bool) -> list[dict]:
    results, text, images = [], [], []
    for block in blocks:
        if isinstance(block, ToolResultBlock):
            results.append(_tool_result(block, tool_names, index))
        elif isinstance(block, TextBlock):
            text.append(block.text)
        elif isinstance(block, ImageBlock):  # the images go first in the turn (chat/prepare.py places them)
            images.append(anthropic_image(block.source, fetch=fetch_urls))
        else:
            raise InvalidParameter(f"a user message cannot hold {block.type} blocks (messages.{index})")
    if not (text or images):
        return results
    return [*results, {"role": "user", "content": "".join(text), **({"images": images} if images else {})}]


def _tool_result(block: ToolResultBlock, tool_names: dict[str, str], index: int) -> dict:
    if block.tool_use_id not in tool_names:
        raise InvalidParameter(f"messages.{index}: tool_result for tool_use_id {block.tool_use_id!r}, which no "
                               "earlier assistant tool_use block has")
    if isinstance(block.content, list) and any(isinstance(part, ImageBlock) for part in block.content):
        raise InvalidParameter(NO_IMAGES)
    return {"role": "tool", "tool_call_id": block.tool_use_id, "name": tool_names[block.tool_use_id],
            "content": block.text()}


# -- answer → response ----------------------------------------------------------------------------------
def usage(prompt_tokens: int, cached_tokens: int, output_tokens: int) -> dict:
    """Anthropic's usage: input_tokens excludes what was read from the cache (the prompt is their sum)."""
    return {"input_tokens": prompt_tokens - cached_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached_tokens, "output_tokens": output_tokens}


def stop_reason(final, body: MessagesRequest, called_tool: bool) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence): a stop sequence is named only when it is one the request gave (a preset's
    own stop strings end the turn as the model's end would)."""
    if called_tool:
        return "tool_use", None
    if final.finish_reason == "length":
        return "max_tokens", None
    if final.stop_sequence is not None and final.stop_sequence in (body.stop_sequences or ()):
        return "stop_sequence", final.stop_sequence
    return "end_turn", None


def tool_input(arguments: str) -> dict:
    """A tool_use block's input from its JSON text (the parser only completes calls whose arguments are an
    object; a stream cut short keeps what arrived under "partial")."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {"partial": arguments}
    return value if isinstance(value, dict) else {"value": value}


def tool_use_id(call_id: str) -> str:
    """Anthropic's id form for a call id of chat/tool_calls.py (call_… → toolu_…)."""
    return "toolu_" + call_id.removeprefix("call_")
