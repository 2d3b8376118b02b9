"""Anthropic's Messages API: POST /v1/messages and POST /v1/messages/count_tokens.

The chat routes' preparation (presets and library models by name, the template renders system, messages and
tools) through anthropic_format.py; answers are content blocks, streamed as Anthropic's SSE events
(message_start, content_block_start / delta / stop, message_delta, message_stop, ping) (docs/design.md §7.3).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..chat.answer import Answer, ThinkingText
from ..chat.tool_calls import ContentText, ToolCall
from . import anthropic_format as fmt
from .answer_stream import Finished, answer_events, collect_answer
from .anthropic_schemas import CountTokensRequest, MessagesRequest
from .metrics import RequestRecord
from .response_schemas import AnthropicEvent, AnthropicMessage, TokenCount, documented
from .routes_common import client_host, finish_reason
from .state import ShuttingDown

router = APIRouter()
ROUTE = fmt.ROUTE_PREFIX
CANCELLED = "the generation was cancelled (the endpoint is stopping)"


@router.post(ROUTE, responses=documented("anthropic", AnthropicMessage, sse=(AnthropicEvent,)))
async def create_message(body: MessagesRequest, request: Request):
    state = request.app.state.serve
    started = time.perf_counter()
    request.state.model = body.model
    target = await run_in_threadpool(state.resolve, body.model)
    prepared, stream = await state.start_chat(
        target, fmt.template_messages(body, fetch_urls=state.wb.settings.fetch_image_urls),
        parameters=fmt.sampling_parameters(body), route=ROUTE,
        client=client_host(request), started=started, json_schema=fmt.output_schema(body), grammar=body.grammar,
        **fmt.prepare_options(body))
    reply = _Reply(body, stream.generation.prompt_tokens)
    if body.stream:
        return StreamingResponse(_events(stream, prepared.shape, reply), media_type="text/event-stream")
    done = await collect_answer(request, stream, prepared.shape)
    if finish_reason(done.final) == "cancelled":  # an engine error raised: a 500 in Anthropic's shape
        raise ShuttingDown(CANCELLED)
    return reply.finished(reply.blocks_of(done.answer), done)


@router.post(ROUTE + "/count_tokens", responses=documented("anthropic", TokenCount))
async def count_tokens(body: CountTokensRequest, request: Request):
    """The prompt's tokens exactly as /v1/messages would send them to the model (same template, same BOS)."""
    state = request.app.state.serve
    request.state.model = body.model
    target = await run_in_threadpool(state.resolve, body.model)
    tokens = await run_in_threadpool(state.count_prompt_tokens, target,
                                     fmt.template_messages(body, fetch_urls=state.wb.settings.fetch_image_urls),
                                     **fmt.prepare_options(body))
    state.record(RequestRecord(time=time.time(), client=client_host(request), route=ROUTE + "/count_tokens",
                               model=target.name, status=200))
    return {"input_tokens": tokens}


class _Reply:
    """One message's id and fixed fields: `head()` for message_start, `finished()` for the whole answer."""

    def __init__(self, body: MessagesRequest, prompt_tokens: int):
        self.body = body
        self.id = f"msg_{uuid.uuid4().hex[:24]}"
        self.prompt_tokens = prompt_tokens
        self.omit_thinking = body.thinking is not None and body.thinking.display == "omitted"
        choice = body.tool_choice
        self.max_calls = 1 if choice is not None and choice.disable_parallel_tool_use else None

    def blocks(self) -> ContentBlocks:
        return ContentBlocks(omit_thinking=self.omit_thinking, max_calls=self.max_calls)

    def blocks_of(self, answer: Answer) -> ContentBlocks:
        """A whole answer's blocks: thinking, text, then its tool calls (a malformed call is in the text)."""
        blocks = self.blocks()
        blocks.thinking(answer.thinking)
        blocks.text(answer.content)
        blocks.calls(answer.calls)
        blocks.close()
        return blocks

    def head(self) -> dict:
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.body.model, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": fmt.usage(self.prompt_tokens, 0, 0)}

    def ending(self, done: Finished) -> tuple[str, str | None, dict]:
        final = done.final
        reason, sequence = fmt.stop_reason(final, self.body, done.finish_reason == "tool_calls")
        return reason, sequence, fmt.usage(final.prompt_tokens, final.cached_tokens, final.completion_tokens)

    def finished(self, blocks: ContentBlocks, done: Finished) -> dict:
        reason, sequence, usage = self.ending(done)
        return {**self.head(), "content": blocks.blocks, "stop_reason": reason, "stop_sequence": sequence,
                "usage": usage}


class ContentBlocks:
    """Content blocks built from typed pieces of the answer (thinking, text, tool calls): a block opens when
    the kind changes and closes before the next. Each call returns the SSE events it causes; `blocks` holds
    the blocks in the response's shape.

    Tool calls go out whole, once the answer has ended: only then is a call known to be well formed (a later
    malformed call makes the whole answer text), and a block once sent cannot be taken back — Anthropic's
    clients also parse every input_json_delta as it comes, so a broken fragment would fail them."""

    def __init__(self, *, omit_thinking: bool = False, max_calls: int | None = None):
        self.blocks: list[dict] = []
        self._omit_thinking = omit_thinking  # thinking: {display: omitted}: the blocks without their text
        self._max_calls = max_calls  # tool_choice.disable_parallel_tool_use: calls after the first are dropped
        self._open: str | None = None
        self._input: list[str] = []  # the open tool_use block's input JSON fragments

    def add(self, event) -> list[tuple[str, dict]]:
        """One event of chat/answer.py's AnswerParser (its tool-call events wait for `calls` at the end)."""
        if isinstance(event, ThinkingText):
            return self.thinking(event.text)
        if isinstance(event, ContentText):
            return self.text(event.text)
        return []

    def calls(self, calls: list[ToolCall]) -> list[tuple[str, dict]]:
        """The answer's tool calls, a tool_use block each (only the first with disable_parallel_tool_use)."""
        events = []
        for call in calls[: self._max_calls]:
            events += self.tool_use(call.name, fmt.tool_use_id(call.id))
            events += self.tool_input(call.arguments)
        return events

    def _start(self, kind: str, block: dict) -> list[tuple[str, dict]]:
        events = self.close()
        self._open = kind
        self.blocks.append(block)
        return [*events, ("content_block_start", {"index": len(self.blocks) - 1, "content_block": dict(block)})]

    def _delta(self, delta: dict) -> tuple[str, dict]:
        return "content_block_delta", {"index": len(self.blocks) - 1, "delta": delta}

    def text(self, piece: str) -> list[tuple[str, dict]]:
        if not piece:
            return []
        events = [] if self._open == "text" else self._start("text", {"type": "text", "text": ""})
        self.blocks[-1]["text"] += piece
        return [*events, self._delta({"type": "text_delta", "text": piece})]

    def thinking(self, piece: str) -> list[tuple[str, dict]]:
        if not piece:
            return []
        fresh = {"type": "thinking", "thinking": "", "signature": ""}
        events = [] if self._open == "thinking" else self._start("thinking", fresh)
        if self._omit_thinking:
            return events
        self.blocks[-1]["thinking"] += piece
        return [*events, self._delta({"type": "thinking_delta", "thinking": piece})]

    def tool_use(self, name: str, call_id: str) -> list[tuple[str, dict]]:
        return self._start("tool_use", {"type": "tool_use", "id": call_id, "name": name, "input": {}})

    def tool_input(self, fragment: str) -> list[tuple[str, dict]]:
        if not fragment or self._open != "tool_use":
            return []
        self._input.append(fragment)
        return [self._delta({"type": "input_json_delta", "partial_json": fragment})]

    def close(self) -> list[tuple[str, dict]]:
        """Close the open block (a thinking block gets its signature, a tool_use block its parsed input)."""
        if self._open is None:
            return []
        events, block = [], self.blocks[-1]
        if self._open == "thinking":  # no cryptographic meaning here: clients only send it back
            block["signature"] = "wb-" + hashlib.sha256(block["thinking"].encode()).hexdigest()[:32]
            events.append(self._delta({"type": "signature_delta", "signature": block["signature"]}))
        elif self._open == "tool_use":
            block["input"] = fmt.tool_input("".join(self._input))
            self._input = []
        self._open = None
        return [*events, ("content_block_stop", {"index": len(self.blocks) - 1})]


def _sse(kind: str, payload: dict) -> str:
    data = json.dumps({"type": kind, **payload}, ensure_ascii=False, separators=(",", ":"))
    return f"event: {kind}\ndata: {data}\n\n"


async def _events(stream, shape, reply: _Reply):
    """Anthropic's event sequence for one streamed answer; leaving early (client gone) cancels the generation."""
    yield _sse("message_start", {"message": reply.head()})
    yield _sse("ping", {})
    blocks = reply.blocks()
    async for item in answer_events(stream, shape):
        if not isinstance(item, Finished):
            for kind, payload in blocks.add(item):
                yield _sse(kind, payload)
            continue
        if item.final.finish_reason in ("error", "cancelled"):
            error = item.final.error or "generation failed"
            yield _sse("error", fmt.error_body(500, error if item.final.finish_reason == "error" else CANCELLED))
            return
        # text the parser held back (a malformed call's, text after the calls), then the calls
        answer = item.answer
        for kind, payload in [*blocks.text(answer.unsent), *blocks.calls(answer.calls), *blocks.close()]:
            yield _sse(kind, payload)
        reason, sequence, usage = reply.ending(item)
        yield _sse("message_delta", {"delta": {"stop_reason": reason, "stop_sequence": sequence}, "usage": usage})
        yield _sse("message_stop", {})
