"""The Responses API's items: `input` items (messages, function_call, function_call_output, reasoning) → the
template's messages; function tools and tool_choice in chat's shape; and the answer (chat/answer.py) → output
items — a `reasoning` item for the thinking, a `message` for the text, a `function_call` per call — whole, or
as the typed stream events OpenAI's SDK accumulates (each item added, its deltas, done, in output order).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..chat.answer import Answer, ThinkingText
from ..chat.tool_calls import ContentText, ToolCallArguments, ToolCallStart
from ..errors import InvalidParameter
from .media_parts import message_media


# -- input ----------------------------------------------------------------------------------------------------
def input_messages(body, *, fetch: bool) -> list[dict]:
    """instructions (first, as a system message) + input items → the messages chat templates read."""
    messages: list[dict] = [{"role": "system", "content": body.instructions}] if body.instructions is not None else []
    if isinstance(body.input, str):
        return [*messages, {"role": "user", "content": body.input}]
    calls: set[str] = set()
    thinking = None  # a reasoning item goes with the assistant turn that follows it
    for index, item in enumerate(body.input):
        if item.type == "reasoning":
            thinking = item.text()
        elif item.type == "message":
            messages.append(_message(item, fetch, thinking if item.role == "assistant" else None))
            thinking = None
        elif item.type == "function_call":
            _add_call(messages, item, thinking)
            calls.add(item.call_id)
            thinking = None
        elif item.call_id not in calls:
            raise InvalidParameter(f"input[{index}]: function_call_output for call_id {item.call_id!r}, which no "
                                   "function_call in the input has")
        else:
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": item.output})
    return messages


def _message(item, fetch: bool, thinking: str | None) -> dict:
    message: dict[str, Any] = {"role": "system" if item.role == "developer" else item.role, "content": item.text()}
    media = message_media(item, fetch=fetch)
    if media:
        message["images"] = media
    if thinking:
        message["reasoning_content"] = thinking  # chat/reasoning.py places it as the template expects
    return message


def _add_call(messages: list[dict], item, thinking: str | None) -> None:
    """A function_call joins the assistant turn just before it (an answer's text and its calls are one turn)."""
    try:
        arguments = json.loads(item.arguments)
    except ValueError:
        arguments = item.arguments
    call = {"id": item.call_id, "type": "function", "function": {"name": item.name, "arguments": arguments}}
    last = messages[-1] if messages else None
    if last is None or last["role"] != "assistant":
        last = {"role": "assistant", "content": ""}
        if thinking:
            last["reasoning_content"] = thinking
        messages.append(last)
    last.setdefault("tool_calls", []).append(call)


def chat_tools(tools: list | None) -> list[dict] | None:
    """Responses' flat function tools → chat's `{"type": "function", "function": {...}}`; hosted tools
    (web_search, file_search …) do not exist on a local endpoint: a 400 naming the tool."""
    out = []
    for index, tool in enumerate(tools or ()):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise InvalidParameter(f"tools[{index}]: only function tools are supported here, not {kind!r}")
        function = {key: tool[key] for key in ("name", "description", "parameters", "strict") if key in tool}
        out.append({"type": "function", "function": function})
    return out or None


def chat_tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice  # "auto" / "none" / "required"; anything else is refused by chat/tool_calls.plan_tools


# -- output -----------------------------------------------------------------------------------------------------
def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def reasoning_item(item_id: str, text: str | None, status: str) -> dict:
    return {"type": "reasoning", "id": item_id, "summary": [], "status": status,
            "content": [] if text is None else [{"type": "reasoning_text", "text": text}]}


def message_item(item_id: str, text: str | None, status: str) -> dict:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [] if text is None else [text_part(text)]}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name, "arguments": arguments,
            "status": status}


def text_part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def output_items(answer: Answer, status: str, message_id: str) -> list[dict]:
    """The whole answer's items, in the order they stream."""
    items = [reasoning_item(_new_id("rs"), answer.thinking, status)] if answer.thinking else []
    if answer.content or not answer.calls:
        items.append(message_item(message_id, answer.content, status))
    items += [call_item(_new_id("fc"), call.id, call.name, call.arguments, status) for call in answer.calls]
    return items


class OutputStream:
    """The answer's events → (event type, fields) pairs: an item opens on its first piece and is done when the
    next kind of piece begins; `items` keeps the done items for the final response."""

    def __init__(self, message_id: str):
        self.message_id = message_id
        self.items: list[dict] = []
        self._open: dict | None = None  # {"kind", "item", "text"}

    def feed(self, event) -> list[tuple[str, dict]]:
        if isinstance(event, ThinkingText):
            return self._piece("reasoning", event.text)
        if isinstance(event, ContentText):
            return self._piece("message", event.text)
        if isinstance(event, ToolCallStart):
            out = self.close()
            self._open = {"kind": "function_call", "text": "",
                          "item": call_item(_new_id("fc"), event.id, event.name, "", "in_progress")}
            return [*out, ("response.output_item.added", {"output_index": len(self.items), "item": self._open["item"]})]
        if isinstance(event, ToolCallArguments):
            self._open["text"] += event.fragment
            return [("response.function_call_arguments.delta", {**self._where(), "delta": event.fragment})]
        return []

    def _piece(self, kind: str, text: str) -> list[tuple[str, dict]]:
        out = []
        if self._open is None or self._open["kind"] != kind:
            out = self.close() + self._start(kind)
        self._open["text"] += text
        delta = "response.reasoning_text.delta" if kind == "reasoning" else "response.output_text.delta"
        extra = {} if kind == "reasoning" else {"logprobs": []}
        return [*out, (delta, {**self._where(), "content_index": 0, "delta": text, **extra})]

    def _start(self, kind: str) -> list[tuple[str, dict]]:
        if kind == "reasoning":
            item, part = reasoning_item(_new_id("rs"), None, "in_progress"), {"type": "reasoning_text", "text": ""}
        else:
            item, part = message_item(self.message_id, None, "in_progress"), text_part("")
        self._open = {"kind": kind, "item": item, "text": ""}
        where = self._where()
        return [("response.output_item.added", {"output_index": where["output_index"], "item": item}),
                ("response.content_part.added", {**where, "content_index": 0, "part": part})]

    def _where(self) -> dict:
        return {"item_id": self._open["item"]["id"], "output_index": len(self.items)}

    def finish(self, unsent: str, status: str) -> list[tuple[str, dict]]:
        """The end: text not shown yet (a malformed call's), then the open item done; an answer with no text and
        no calls still has its (empty) message."""
        out = self._piece("message", unsent) if unsent else []
        if self._open is None and not self.items:
            out += self._start("message")
        return out + self.close(status)

    def close(self, status: str = "completed") -> list[tuple[str, dict]]:
        """The open item's done events (nothing when none is open)."""
        if self._open is None:
            return []
        kind, text, where = self._open["kind"], self._open["text"], self._where()
        if kind == "function_call":
            item = {**self._open["item"], "arguments": text, "status": status}
            out = [("response.function_call_arguments.done", {**where, "arguments": text})]
        else:
            make, part = (reasoning_item, {"type": "reasoning_text", "text": text}) if kind == "reasoning" else \
                (message_item, text_part(text))
            item = make(where["item_id"], text, status)
            done = "response.reasoning_text.done" if kind == "reasoning" else "response.output_text.done"
            extra = {} if kind == "reasoning" else {"logprobs": []}
            out = [(done, {**where, "content_index": 0, "text": text, **extra}),
                   ("response.content_part.done", {**where, "content_index": 0, "part": part})]
        self.items.append(item)
        self._open = None
        return [*out, ("response.output_item.done", {"output_index": where["output_index"], "item": item})]
