"""OpenAI's Responses API: POST /v1/responses (what `client.responses.create(...)` calls).

The same preparation as chat completions (`input` items as messages, `instructions` first as a system message,
`text.format` as response_format, function tools, `reasoning.effort`); the answer becomes reasoning / message /
function_call output items (responses_items.py), streamed as typed SSE events. Stateless: `store` is accepted
but nothing is kept, so `previous_response_id` is a 400 (docs/design.md §7.3).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..chat.reasoning import Thinking
from ..errors import InvalidParameter
from . import formats
from . import responses_items as items
from .answer_stream import Finished, answer_events, collect_answer
from .response_schemas import OpenAIResponse, ResponseEvent, documented
from .routes_common import client_host, finish_reason
from .schemas import ResponsesRequest

router = APIRouter()
ROUTE = "/v1/responses"


@router.post(ROUTE, responses=documented("openai", OpenAIResponse, sse=(ResponseEvent,)))
async def create_response(body: ResponsesRequest, request: Request):
    state = request.app.state.serve
    started = time.perf_counter()
    request.state.model = body.model
    if body.previous_response_id is not None:
        raise InvalidParameter("previous_response_id is not supported: this endpoint stores no responses, "
                               "send the whole conversation as input")
    target = await run_in_threadpool(state.resolve, body.model)
    schema = formats.response_schema(body.text.format.response_format())
    effort = body.reasoning.effort if body.reasoning is not None else None
    prepared, stream = await state.start_chat(
        target, items.input_messages(body, fetch=state.wb.settings.fetch_image_urls),
        parameters=formats.sampling_parameters(body), route=ROUTE, client=client_host(request), started=started,
        json_schema=schema, grammar=body.grammar, tools=items.chat_tools(body.tools),
        tool_choice=items.chat_tool_choice(body.tool_choice), thinking=Thinking.parse(effort))
    reply = _Reply(body, prepared)
    if body.stream:
        return StreamingResponse(_events(stream, prepared.shape, reply), media_type="text/event-stream")
    done = await collect_answer(request, stream, prepared.shape)
    finish_reason(done.final)  # an engine error is a 500, as on the chat route
    status = _status(done.final)
    return reply.finished(done, items.output_items(done.answer, status, reply.message_id) if status else [])


def _status(final) -> str | None:
    """completed (the model stopped), incomplete (cut at the token limit), None: failed."""
    return {"stop": "completed", "length": "incomplete"}.get(final.finish_reason)


def _usage(done: Finished) -> dict:
    final = done.final
    # cache_write_tokens is OpenAI's billed explicit cache; nothing here is billed or written on request
    return {"input_tokens": final.prompt_tokens,
            "input_tokens_details": {"cached_tokens": final.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": final.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": done.answer.thinking_tokens},
            "total_tokens": final.prompt_tokens + final.completion_tokens}


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
            "parallel_tool_calls": body.parallel_tool_calls is not False, "tool_choice": body.tool_choice or "auto",
            "tools": body.tools or [], "previous_response_id": None,
            "reasoning": body.reasoning.model_dump(exclude_none=True) if body.reasoning else None,
            "truncation": "disabled", "store": False, "background": False,
            "metadata": body.metadata or {}, "user": body.user}

    def snapshot(self) -> dict:
        return {**self._fields, "status": "in_progress", "output": [], "usage": None, "error": None,
                "incomplete_details": None}

    def finished(self, done: Finished, output: list[dict]) -> dict:
        """The whole response: completed, incomplete (cut at the token limit) or failed (an engine error, or
        cancelled because the endpoint is stopping)."""
        out = {**self.snapshot(), "usage": _usage(done), "completed_at": int(time.time())}
        status = _status(done.final)
        if status is not None:
            out.update(status=status, output=output)
            if status == "incomplete":
                out["incomplete_details"] = {"reason": "max_output_tokens"}
            return out
        final = done.final
        message = ((final.error or "generation failed") if final.finish_reason == "error"
                   else "the generation was cancelled (the endpoint is stopping)")
        out.update(status="failed", error={"code": "server_error", "message": message})
        return out


async def _events(stream, shape, reply: _Reply):
    """The typed SSE events of one streamed response; leaving early (client gone) cancels the generation."""
    numbers = itertools.count()

    def event(kind: str, fields: dict) -> str:
        data = json.dumps({"type": kind, **fields, "sequence_number": next(numbers)}, ensure_ascii=False,
                          separators=(",", ":"))
        return f"event: {kind}\ndata: {data}\n\n"

    yield event("response.created", {"response": reply.snapshot()})
    yield event("response.in_progress", {"response": reply.snapshot()})
    output = items.OutputStream(reply.message_id)
    async for item in answer_events(stream, shape):
        if isinstance(item, Finished):
            break
        for kind, fields in output.feed(item):
            yield event(kind, fields)
    status = _status(item.final)
    if status is not None:  # a failed response ends with response.failed alone
        for kind, fields in output.finish(item.answer.unsent, status):
            yield event(kind, fields)
    done = reply.finished(item, output.items)
    yield event(f"response.{done['status']}", {"response": done})
