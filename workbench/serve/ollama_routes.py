"""Ollama-compatible routes: /api/tags, /api/show, /api/chat, /api/generate, /api/embed, /api/ps, /api/version.

`options` go to chat/prepare.py as the Ollama names they are; streams are NDJSON ending with `done: true` and
Ollama's timings; `keep_alive` sets how long the model stays loaded (docs/design.md §7.3).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..chat.answer import ThinkingText
from ..chat.reasoning import Thinking, detect_format
from ..chat.tool_calls import ContentText
from ..engine import TextEvent
from ..errors import InvalidParameter
from ..files import utc_text
from ..library import facts
from ..modelfile.parser import render as render_modelfile
from . import formats
from .answer_stream import Finished, answer_events, collect_answer
from .media_parts import ollama_images
from .response_schemas import (
    OllamaChat,
    OllamaEmbed,
    OllamaGenerate,
    OllamaPs,
    OllamaShow,
    OllamaTags,
    OllamaVersion,
    documented,
)
from .routes_common import client_host, finish_reason, ndjson_line
from .schemas import OllamaChatRequest, OllamaEmbedRequest, OllamaGenerateRequest, OllamaShowRequest
from .streaming import collect_watching

if TYPE_CHECKING:
    from ..app import Workbench

router = APIRouter()


def _details(model) -> dict:
    """Ollama's `details` block: the library's facts, "" where the model does not say."""
    return {"parent_model": "", "format": "gguf", "family": model.architecture or "",
            "families": [model.architecture] if model.architecture else None,
            "parameter_size": facts.parameters(model) or "", "quantization_level": model.quantization or ""}


@router.get("/api/version", responses=documented("ollama", OllamaVersion))
async def version():
    return {"version": __version__}


@router.get("/api/tags", responses=documented("ollama", OllamaTags))
async def tags(request: Request):
    return {"models": await run_in_threadpool(_tag_rows, request.app.state.serve.wb)}


def _tag_rows(wb: Workbench) -> list[dict]:
    rows = [_tag(m.name, m, m.added_at) for m in wb.library.list()]
    for preset in wb.presets.list():
        try:
            model = wb.presets.resolve(preset.latest).model
        except Exception:  # a preset whose model was removed is not servable: leave it out
            continue
        rows.append(_tag(preset.name, model, preset.latest.created_at))
        rows += [_tag(f"{preset.name}:{tag}", model, preset.latest.created_at)
                 for tag in sorted(preset.tags) if tag != "latest"]
    return rows


def _tag(name: str, model, modified: datetime) -> dict:
    return {"name": name, "model": name, "modified_at": modified.isoformat(), "size": model.size_bytes,
            "digest": model.sha256, "details": _details(model)}


@router.post("/api/show", responses=documented("ollama", OllamaShow))
async def show(body: OllamaShowRequest, request: Request):
    name = body.model or body.name
    if not name:
        raise InvalidParameter("give the model to show: {\"model\": \"NAME\"}")
    state = request.app.state.serve
    target = await run_in_threadpool(state.resolve, name)
    model, mf = target.model, target.modelfile
    template = mf.template if mf is not None and mf.template else model.metadata.get("tokenizer.chat_template", "")
    parameters = "\n".join(f"{k} {json.dumps(v) if isinstance(v, str) else v}"
                           for k, values in target.base_parameters().items()
                           for v in (values if isinstance(values, list) else [values]))
    info = {k: v for k, v in model.metadata.items() if isinstance(v, str | int | float | bool)}
    return {"modelfile": render_modelfile(mf) if mf is not None else f"FROM {model.path}\n",
            "parameters": parameters, "template": template if isinstance(template, str) else "",
            "system": (mf.system or "") if mf is not None else "", "license": model.license or "",
            "details": _details(model), "model_info": info, "modified_at": model.added_at.isoformat(),
            "capabilities": ["completion", *(["tools"] if "tools" in (template or "") else []),
                             *(["thinking"] if detect_format(template, model.metadata).supported else []),
                             *(["vision"] if "vision" in model.modalities else [])]}  # a paired image projector


@router.get("/api/ps", responses=documented("ollama", OllamaPs))
async def ps(request: Request):
    """One row per name (preset, else library model) whose requests use each loaded model, as Ollama lists the
    names clients asked for; a model loaded by other callers (the app's chat) under its library name."""
    state = request.app.state.serve
    now = time.time()
    models = []
    for row in state.wb.runtime.loaded():
        expires = now + row.expires_in if row.expires_in is not None else now + 365 * 86400
        for name in state.users(row) or [row.name]:
            models.append({"name": name, "model": name, "size": row.memory_bytes, "digest": row.sha256 or "",
                           "details": {"format": "gguf"}, "size_vram": 0, "context_length": row.options.n_ctx,
                           "expires_at": datetime.fromtimestamp(expires, UTC).isoformat()})
    return {"models": models}


async def _keep_alive_only(state, target, keep_alive, body_model: str, chat_shape: bool):
    """An empty request: load the model (or unload it with keep_alive 0), like Ollama."""
    if keep_alive == 0:
        await run_in_threadpool(state.wb.runtime.unload, target.model)
        reason = "unload"
    else:
        loaded = await run_in_threadpool(state.load_model, target)
        if keep_alive is not None:
            state.wb.runtime.set_keep_alive(loaded, keep_alive)
        reason = "load"
    head = {"model": body_model, "created_at": utc_text(timespec="auto", zulu=True), "done": True,
            "done_reason": reason}
    return {**head, "message": {"role": "assistant", "content": ""}} if chat_shape else {**head, "response": ""}


async def _begin(body, request: Request):
    """What both generation routes start with: (state, arrival time, keep_alive seconds, resolved target)."""
    started = time.perf_counter()
    request.state.model = body.model
    keep_alive = formats.keep_alive_seconds(body.keep_alive)
    state = request.app.state.serve
    return state, started, keep_alive, await run_in_threadpool(state.resolve, body.model)


@router.post("/api/chat", responses=documented("ollama", OllamaChat, lines=(OllamaChat,)))
async def chat_route(body: OllamaChatRequest, request: Request):
    state, started, keep_alive, target = await _begin(body, request)
    if not body.messages:
        return await _keep_alive_only(state, target, keep_alive, body.model, True)
    options = dict(body.options or {})
    grammar = options.pop("grammar", None) or body.grammar  # llama.cpp's extension, also inside options
    prepared, stream = await state.start_chat(
        target, [_template_message(m) for m in body.messages], parameters=options, route="/api/chat",
        client=client_host(request), started=started, tools=body.tools, thinking=Thinking.parse(body.think),
        json_schema=formats.ollama_schema(body.format), grammar=grammar, keep_alive=keep_alive)
    return await _respond(request, body, stream, started, prepared.shape, chat_shape=True)


def _template_message(m) -> dict:
    """An Ollama message as chat templates read it (a tool result's function name as `name`)."""
    item = {"role": m.role, "content": m.content}
    if m.tool_calls:
        item["tool_calls"] = m.tool_calls
    if m.thinking:
        item["thinking"] = m.thinking
    if m.tool_name:
        item["name"] = m.tool_name
    if m.images:
        item["images"] = ollama_images(m.images)
    return item


@router.post("/api/generate", responses=documented("ollama", OllamaGenerate, lines=(OllamaGenerate,)))
async def generate(body: OllamaGenerateRequest, request: Request):
    if body.template:
        raise InvalidParameter("a per-request template is not supported: put TEMPLATE in a preset instead")
    if body.suffix:
        raise InvalidParameter("suffix (fill-in-the-middle) is not supported by this endpoint")
    state, started, keep_alive, target = await _begin(body, request)
    if not body.prompt:
        return await _keep_alive_only(state, target, keep_alive, body.model, False)
    common = {"parameters": dict(body.options or {}), "route": "/api/generate", "client": client_host(request),
              "started": started, "json_schema": formats.ollama_schema(body.format), "keep_alive": keep_alive}
    if body.raw:
        if body.think:
            raise InvalidParameter("think needs the chat template: it cannot be used with raw")
        if body.images:
            raise InvalidParameter("images need the chat template (it places them): they cannot be used with raw")
        _, stream = await state.start_completion(target, body.prompt, **common)
        return await _respond(request, body, stream, started, None, chat_shape=False)
    question = {"role": "user", "content": body.prompt}
    if body.images:
        question["images"] = ollama_images(body.images)
    prepared, stream = await state.start_chat(target, [question], system=body.system,
                                              thinking=Thinking.parse(body.think), **common)
    return await _respond(request, body, stream, started, prepared.shape, chat_shape=False)


def _piece(body, text: str, chat_shape: bool, thinking: str = "") -> dict:
    head = {"model": body.model, "created_at": utc_text(timespec="auto", zulu=True)}
    if chat_shape:
        message = {"role": "assistant", "content": text, **({"thinking": thinking} if thinking else {})}
        return {**head, "message": message}
    return {**head, "response": text, **({"thinking": thinking} if thinking else {})}


def _done(body, final, stream, started: float, chat_shape: bool, text: str = "", calls=None,
          thinking: str = "") -> dict:
    total = time.perf_counter() - started
    ttft = stream.ttft or 0.0
    out = _piece(body, text, chat_shape, thinking)
    if calls:
        out["message"]["tool_calls"] = calls
    return {**out, "done": True, "done_reason": finish_reason(final), "total_duration": int(total * 1e9),
            "load_duration": 0, "prompt_eval_count": final.prompt_tokens, "prompt_eval_duration": int(ttft * 1e9),
            "eval_count": final.completion_tokens, "eval_duration": int(max(0.0, total - ttft) * 1e9)}


async def _respond(request: Request, body, stream, started: float, shape, *, chat_shape: bool):
    """Plain text (stream or whole), or an answer split into thinking, content and tool calls."""
    parsed = shape is not None and not shape.plain
    if body.stream:
        lines = _ndjson_parsed(body, stream, shape, started, chat_shape) if parsed else \
            _ndjson(body, stream, started, chat_shape)
        return StreamingResponse(lines, media_type="application/x-ndjson")
    if not parsed:
        text, final = await collect_watching(request, stream)
        return _done(body, final, stream, started, chat_shape, text)
    done = await collect_answer(request, stream, shape)
    answer = done.answer
    calls = [call.ollama() for call in answer.calls] or None  # Ollama's shape: arguments as an object, no id
    return _done(body, done.final, stream, started, chat_shape, answer.content, calls, answer.thinking)


async def _ndjson(body, stream, started: float, chat_shape: bool):
    async for event in stream.events():
        if isinstance(event, TextEvent):
            yield ndjson_line({**_piece(body, event.text, chat_shape), "done": False})
        elif event.finish_reason == "error":
            yield ndjson_line({"error": event.error or "generation failed"})
        else:
            yield ndjson_line(_done(body, event, stream, started, chat_shape))


async def _ndjson_parsed(body, stream, shape, started: float, chat_shape: bool):
    """`thinking` and `content` pieces as they stream; the tool calls in one line when the answer ends (as
    Ollama sends them), then the done line."""
    async for item in answer_events(stream, shape):
        if isinstance(item, ThinkingText):
            yield ndjson_line({**_piece(body, "", chat_shape, item.text), "done": False})
        elif isinstance(item, ContentText):
            yield ndjson_line({**_piece(body, item.text, chat_shape), "done": False})
        elif isinstance(item, Finished):
            if item.final.finish_reason == "error":
                yield ndjson_line({"error": item.final.error or "generation failed"})
                return
            answer = item.answer
            if answer.unsent:
                yield ndjson_line({**_piece(body, answer.unsent, chat_shape), "done": False})
            if answer.calls:
                line = _piece(body, "", chat_shape)
                line["message"]["tool_calls"] = [call.ollama() for call in answer.calls]
                yield ndjson_line({**line, "done": False})
            yield ndjson_line(_done(body, item.final, stream, started, chat_shape))


@router.post("/api/embed", responses=documented("ollama", OllamaEmbed))
async def embed(body: OllamaEmbedRequest, request: Request):
    state = request.app.state.serve
    started = time.perf_counter()
    request.state.model = body.model
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    target = await run_in_threadpool(state.resolve, body.model)
    result = await run_in_threadpool(state.embed, target, texts, body.truncate, "/api/embed", client_host(request))
    return {"model": body.model, "embeddings": result.vectors, "prompt_eval_count": result.total_tokens,
            "total_duration": int((time.perf_counter() - started) * 1e9), "load_duration": 0}
