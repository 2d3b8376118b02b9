"""OpenAI-compatible routes: /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings.

Request fields map onto Ollama parameter names (formats.py) and chat/prepare.py builds the prompt, so a preset
used as the model applies its SYSTEM, MESSAGEs and PARAMETERs. Streams are SSE chunks ending `[DONE]`; a
reasoning model's thinking and tool calls are split off as they stream (answer_stream.py); logprobs are shaped
in logprobs.py (docs/design.md §7.3).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import TYPE_CHECKING

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..chat.answer import ThinkingText
from ..chat.reasoning import Thinking
from ..chat.tool_calls import ToolCallArguments, ToolCallStart
from ..engine import TextEvent
from ..errors import InvalidParameter
from . import formats, logprobs
from .answer_stream import Finished, answer_events, collect_answer, usage_details
from .media_parts import with_media
from .response_schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    Completion,
    EmbeddingList,
    ModelCard,
    ModelList,
    documented,
)
from .routes_common import client_host, finish_reason
from .schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from .streaming import collect_watching

if TYPE_CHECKING:
    from ..app import Workbench

router = APIRouter()


def _dumps(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _usage(final, answer=None) -> dict:
    usage = {"prompt_tokens": final.prompt_tokens, "completion_tokens": final.completion_tokens,
             "total_tokens": final.prompt_tokens + final.completion_tokens,
             "prompt_tokens_details": {"cached_tokens": final.cached_tokens}}
    if answer is not None:
        usage["completion_tokens_details"] = usage_details(answer)
    return usage


def _fingerprint(prepared) -> str:
    return f"wb-{prepared.target.model.sha256[:12]}"


@router.get("/v1/models", responses=documented("openai", ModelList))
async def list_models(request: Request):
    rows = await run_in_threadpool(_model_rows, request.app.state.serve.wb)
    return {"object": "list", "data": rows}


@router.get("/v1/models/{name:path}", responses=documented("openai", ModelCard))
async def get_model(name: str, request: Request):
    rows = await run_in_threadpool(_model_rows, request.app.state.serve.wb)
    for row in rows:
        if row["id"] == name:
            return row
    await run_in_threadpool(request.app.state.serve.resolve, name)  # NotFound (404) with the usual message
    return {"id": name, "object": "model", "created": 0, "owned_by": "workbench"}


def _model_rows(wb: Workbench) -> list[dict]:
    rows = [{"id": m.name, "object": "model", "created": int(m.added_at.timestamp()), "owned_by": "library"}
            for m in wb.library.list()]
    for preset in wb.presets.list():
        created = int(preset.created_at.timestamp())
        rows.append({"id": preset.name, "object": "model", "created": created, "owned_by": "preset"})
        rows += [{"id": f"{preset.name}:{tag}", "object": "model", "created": created, "owned_by": "preset"}
                 for tag in sorted(preset.tags) if tag != "latest"]
    return rows


@router.post("/v1/chat/completions", responses=documented(
    "openai", ChatCompletion, sse=(ChatCompletionChunk,), done_marker=True))
async def chat_completions(body: ChatCompletionRequest, request: Request):
    state = request.app.state.serve
    started = time.perf_counter()
    request.state.model = body.model
    target = await run_in_threadpool(state.resolve, body.model)
    thinking = Thinking.parse(body.thinking_choice(), budget=body.thinking_budget)
    prepared, stream = await state.start_chat(
        target, with_media(formats.template_messages(body.messages), body.messages,
                           fetch=state.wb.settings.fetch_image_urls),
        parameters=formats.sampling_parameters(body),
        route="/v1/chat/completions", client=client_host(request), started=started, tools=body.tools,
        tool_choice=body.tool_choice, thinking=thinking, json_schema=formats.response_schema(body.response_format),
        grammar=body.grammar, logit_bias=formats.logit_bias(body.logit_bias), ignore_eos=body.ignore_eos,
        logprobs=body.logprobs_n())
    meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.model,
            "system_fingerprint": _fingerprint(prepared)}
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    if prepared.shape.plain:
        if body.stream:
            return StreamingResponse(_chat_sse(stream, meta, include_usage, body.logprobs),
                                     media_type="text/event-stream")
        text, final = await collect_watching(request, stream)
        scores = logprobs.chat(stream.logprobs) if body.logprobs else None
        message = {"role": "assistant", "content": text}
        return {**meta, "object": "chat.completion", "usage": _usage(final),
                "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(final),
                             "logprobs": scores}]}
    if body.stream:
        return StreamingResponse(_parsed_sse(stream, prepared.shape, meta, include_usage),
                                 media_type="text/event-stream")
    entries: list = []
    done = await collect_answer(request, stream, prepared.shape, entries)
    finish_reason(done.final)  # an engine failure: a 500 in OpenAI's shape
    answer = done.answer
    message = {"role": "assistant", "content": answer.content if not answer.calls else (answer.content or None)}
    if answer.thinking:
        message["reasoning_content"] = answer.thinking
    if answer.calls:
        message["tool_calls"] = [call.openai() for call in answer.calls]
    scores = logprobs.chat(entries) if body.logprobs else None
    return {**meta, "object": "chat.completion", "usage": _usage(done.final, answer),
            "choices": [{"index": 0, "message": message, "finish_reason": done.finish_reason, "logprobs": scores}]}


async def _parsed_sse(stream, shape, meta: dict, include_usage: bool):
    """A stream split as it goes: `reasoning_content` deltas, `content` deltas, `tool_calls` deltas."""
    yield _dumps(_chunk(meta, {"role": "assistant", "content": ""}))
    async for item in answer_events(stream, shape):
        if not isinstance(item, Finished):
            yield _dumps(_chunk(meta, _delta(item)))
            continue
        if item.final.finish_reason == "error":
            yield _dumps({"error": {"message": item.final.error or "generation failed", "type": "server_error",
                                    "param": None, "code": "engine_error"}})
            return
        if item.answer.unsent:  # a malformed call's text (or text after the calls) not shown yet
            yield _dumps(_chunk(meta, {"content": item.answer.unsent}))
        yield _dumps(_chunk(meta, {}, item.finish_reason))
        if include_usage:
            yield _dumps({**meta, "object": "chat.completion.chunk", "choices": [],
                          "usage": _usage(item.final, item.answer)})
    yield "data: [DONE]\n\n"


def _delta(item) -> dict:
    if isinstance(item, ThinkingText):
        return {"reasoning_content": item.text}
    if isinstance(item, ToolCallStart):
        return {"tool_calls": [{"index": item.index, "id": item.id, "type": "function",
                                "function": {"name": item.name, "arguments": ""}}]}
    if isinstance(item, ToolCallArguments):
        return {"tool_calls": [{"index": item.index, "function": {"arguments": item.fragment}}]}
    return {"content": item.text}


def _chunk(meta: dict, delta: dict, finish_reason: str | None = None, scores: dict | None = None) -> dict:
    return {**meta, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": scores}]}


async def _sse(stream, meta: dict, include_usage: bool, chunk, head: dict | None = None):
    """SSE lines for a stream; chunk(text | None, finish_reason | None, logprob entries) shapes one chat or
    completion chunk."""
    if head is not None:
        yield _dumps(head)
    async for event in stream.events():
        if isinstance(event, TextEvent):
            yield _dumps(chunk(event.text, None, event.logprobs))
            continue
        if event.finish_reason == "error":
            yield _dumps({"error": {"message": event.error or "generation failed", "type": "server_error",
                                    "param": None, "code": "engine_error"}})
            return
        last = chunk(None, event.finish_reason, ())
        yield _dumps(last)
        if include_usage:
            yield _dumps({**meta, "object": last["object"], "choices": [], "usage": _usage(event)})
    yield "data: [DONE]\n\n"


def _chat_sse(stream, meta: dict, include_usage: bool, with_logprobs: bool):
    def chunk(text, finish, entries):
        scores = logprobs.chat(entries) if with_logprobs and text is not None else None
        return _chunk(meta, {} if text is None else {"content": text}, finish, scores)

    return _sse(stream, meta, include_usage, chunk, head=_chunk(meta, {"role": "assistant", "content": ""}))


@router.post("/v1/completions", responses=documented("openai", Completion, sse=(Completion,), done_marker=True))
async def completions(body: CompletionRequest, request: Request):
    state = request.app.state.serve
    started = time.perf_counter()
    request.state.model = body.model
    if body.suffix:
        raise InvalidParameter("suffix (fill-in-the-middle) is not supported by this endpoint")
    target = await run_in_threadpool(state.resolve, body.model)
    prompt = body.prompt  # the text or the token ids (schemas.CompletionRequest)
    prepared, stream = await state.start_completion(
        target, prompt, parameters=formats.sampling_parameters(body), route="/v1/completions",
        client=client_host(request), started=started, logit_bias=formats.logit_bias(body.logit_bias),
        ignore_eos=body.ignore_eos, logprobs=body.logprobs)
    meta = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.model,
            "system_fingerprint": _fingerprint(prepared)}
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    echo, echoed = await _echo(state, stream, prepared, body)
    generated = logprobs.Legacy(offset=len(echo)) if body.logprobs is not None else None
    if body.stream:
        return StreamingResponse(_completion_sse(stream, meta, include_usage, echo, echoed, generated),
                                 media_type="text/event-stream")
    text, final = await collect_watching(request, stream)
    scores = None if generated is None else generated.block(stream.logprobs)
    if echoed is not None:
        scores = logprobs.join(echoed, scores)
    choice = {"index": 0, "text": echo + text, "finish_reason": finish_reason(final), "logprobs": scores}
    return {**meta, "object": "text_completion", "choices": [choice], "usage": _usage(final)}


async def _echo(state, stream, prepared, body: CompletionRequest) -> tuple[str, dict | None]:
    """For echo: the prompt's text and, with logprobs, its legacy logprobs block (else "", None). The stream is
    closed (generation cancelled) if either fails."""
    if not body.echo:
        return "", None
    try:
        text = body.prompt if isinstance(body.prompt, str) else await logprobs.prompt_text(state.wb, prepared)
        if body.logprobs is None:
            return text, None
        entries = await logprobs.prompt_entries(state.wb, prepared, body.logprobs)
    except BaseException:
        stream.close()
        raise
    return text, logprobs.Legacy().block(entries)


def _text_chunk(meta: dict, text: str, finish_reason: str | None = None, scores: dict | None = None) -> dict:
    return {**meta, "object": "text_completion",
            "choices": [{"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": scores}]}


def _completion_sse(stream, meta: dict, include_usage: bool, echo: str, echoed: dict | None,
                    generated: logprobs.Legacy | None):
    def chunk(text, finish, entries):
        scores = generated.block(entries) if generated is not None and text is not None else None
        return _text_chunk(meta, text or "", finish, scores)

    head = _text_chunk(meta, echo, scores=echoed) if echo or echoed is not None else None
    return _sse(stream, meta, include_usage, chunk, head=head)


@router.post("/v1/embeddings", responses=documented("openai", EmbeddingList))
async def embeddings(body: EmbeddingRequest, request: Request):
    state = request.app.state.serve
    request.state.model = body.model
    target = await run_in_threadpool(state.resolve, body.model)
    result = await run_in_threadpool(state.embed, target, body.texts(), False, "/v1/embeddings",
                                     client_host(request))
    data = []
    for index, vector in enumerate(result.vectors):
        value = (base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
                 if body.encoding_format == "base64" else vector)
        data.append({"object": "embedding", "index": index, "embedding": value})
    return {"object": "list", "data": data, "model": body.model,
            "usage": {"prompt_tokens": result.total_tokens, "total_tokens": result.total_tokens}}
