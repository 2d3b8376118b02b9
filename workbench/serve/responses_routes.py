"""OpenAI's Responses API: POST /v1/responses (what `client.responses.create(...)` calls).

The same preparation as chat completions (`input` as messages, `instructions` first as a system message,
`text.format` as response_format); streams are typed SSE events. Stateless: `store` is accepted but nothing is
kept, so `previous_response_id` and tools are a 400 (docs/design.md §7.3).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..engine import TextEvent
from ..errors import InvalidParameter
from . import formats
from .routes_common import client_host, finish_reason
from .schemas import ChatMessage, ResponsesRequest
from .streaming import collect_watching

router = APIRouter()
ROUTE = "/v1/responses"


@router.post(ROUTE)
async def create_response(body: ResponsesRequest, request: Request):
    state = request.app.state.serve
    started = time.perf_counter()
    request.state.model = body.model
    _refuse_unsupported(body)
    target = await run_in_threadpool(state.resolve, body.model)
    schema = formats.response_schema(body.text.format.response_format())
    prepared, stream = await state.start_chat(
        target, _messages(body), parameters=formats.sampling_parameters(body), route=ROUTE, client=client_host(request),
        started=started, json_schema=schema)
    reply = _Reply(body, prepared)
    if body.stream:
        return StreamingResponse(_events(stream, reply), media_type="text/event-stream")
    text, final = await collect_watching(request, stream)
    finish_reason(final)  # an engine error is a 500, as on the chat route
    return reply.finished(text, final)


def _refuse_unsupported(body: ResponsesRequest) -> None:
    if body.previous_response_id is not None:
        raise InvalidParameter("previous_response_id is not supported: this endpoint stores no responses, "
                               "send the whole conversation as input")
    if body.tools:
        raise InvalidParameter("tools are not supported on /v1/responses (use /v1/chat/completions)")


def _messages(body: ResponsesRequest) -> list[dict]:
    """instructions (a system message, first) + input → the template's messages, as the chat route makes them."""
    items = [ChatMessage(role="user", content=body.input)] if isinstance(body.input, str) else [
        ChatMessage(role=item.role, content=item.text()) for item in body.input]
    if body.instructions is not None:
        items.insert(0, ChatMessage(role="system", content=body.instructions))
    return formats.template_messages(items)


def _usage(final) -> dict:
    # cache_write_tokens is OpenAI's billed explicit cache; nothing here is billed or written on request
    return {"input_tokens": final.prompt_tokens,
            "input_tokens_details": {"cached_tokens": final.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": final.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": final.prompt_tokens + final.completion_tokens}


def _part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


class _Reply:
    """One response's ids and fixed fields; `snapshot()` while running, `finished()` at the end."""

    def __init__(self, body: ResponsesRequest, prepared):
        self.id = f"resp_{uuid.uuid4().hex}"
        self.message_id = f"msg_{uuid.uuid4().hex}"
        sampling = prepared.request.sampling
        self._fields = {
            "id": self.id, "object": "response", "created_at": int(time.time()), "model": body.model,
            "instructions": body.instructions, "max_output_tokens": prepared.request.max_tokens,
            # what the answer ran with (a preset's values when the request sent none)
            "temperature": sampling.temperature, "top_p": sampling.top_p,
            "text": {"format": body.text.format.model_dump(by_alias=True, exclude_none=True)},
            "parallel_tool_calls": False, "tool_choice": "auto", "tools": [], "previous_response_id": None,
            "reasoning": None, "truncation": "disabled", "store": False, "background": False,
            "metadata": body.metadata or {}, "user": body.user}

    def snapshot(self) -> dict:
        return {**self._fields, "status": "in_progress", "output": [], "usage": None, "error": None,
                "incomplete_details": None}

    def message(self, status: str, text: str | None) -> dict:
        return {"type": "message", "id": self.message_id, "status": status, "role": "assistant",
                "content": [] if text is None else [_part(text)]}

    def finished(self, text: str, final) -> dict:
        """The whole response: completed (the model stopped), incomplete (cut at the token limit) or failed
        (an engine error, or cancelled because the endpoint is stopping)."""
        out = {**self.snapshot(), "usage": _usage(final), "completed_at": int(time.time())}
        if final.finish_reason in ("stop", "length"):
            status = "completed" if final.finish_reason == "stop" else "incomplete"
            out.update(status=status, output=[self.message(status, text)])
            if status == "incomplete":
                out["incomplete_details"] = {"reason": "max_output_tokens"}
            return out
        message = ((final.error or "generation failed") if final.finish_reason == "error"
                   else "the generation was cancelled (the endpoint is stopping)")
        out.update(status="failed", error={"code": "server_error", "message": message})
        return out


async def _events(stream, reply: _Reply):
    """The typed SSE events of one streamed response; leaving early (client gone) cancels the generation."""
    numbers = itertools.count()

    def event(kind: str, **fields) -> str:
        data = json.dumps({"type": kind, **fields, "sequence_number": next(numbers)}, ensure_ascii=False,
                          separators=(",", ":"))
        return f"event: {kind}\ndata: {data}\n\n"

    where = {"item_id": reply.message_id, "output_index": 0, "content_index": 0}
    yield event("response.created", response=reply.snapshot())
    yield event("response.in_progress", response=reply.snapshot())
    yield event("response.output_item.added", output_index=0, item=reply.message("in_progress", None))
    yield event("response.content_part.added", **where, part=_part(""))
    parts, final = [], None
    async for item in stream.events():
        if isinstance(item, TextEvent):
            parts.append(item.text)
            yield event("response.output_text.delta", **where, delta=item.text, logprobs=[])
        else:
            final = item
    text = "".join(parts)
    done = reply.finished(text, final)
    if done["status"] == "failed":
        yield event("response.failed", response=done)
        return
    yield event("response.output_text.done", **where, text=text, logprobs=[])
    yield event("response.content_part.done", **where, part=_part(text))
    yield event("response.output_item.done", output_index=0, item=done["output"][0])
    yield event(f"response.{done['status']}", response=done)
