"""Ollama's model-management routes: /api/pull, /api/delete, /api/copy, /api/create, /api/embeddings.

pull takes only hf.co GGUF references and runs `wb.hub.pull` on a worker thread, its progress fed to the loop (a
hang-up cancels; the partial resumes); delete and copy act on a preset first, else a model; create saves a preset
version from a Modelfile or the structured fields (docs/design.md §7.3).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..errors import InvalidModelfile, InvalidParameter, NotFound, WorkbenchError
from ..modelfile import parser as mf
from ..modelfile.parameters import parse_parameter, spec
from ..presets import check_preset_name
from ..resolve import ModelMatch, NoMatch, PresetMatch, resolve
from ..tasks import CancelToken, Progress
from .metrics import RequestRecord
from .response_schemas import OllamaEmbedding, OllamaStatus, documented, errors
from .routes_common import client_host, ndjson_line
from .schemas import Lenient, OllamaMessage
from .state import ShuttingDown
from .streaming import watch_disconnect

if TYPE_CHECKING:
    from ..app import Workbench
    from ..hub import Resolution

_log = logging.getLogger(__name__)
router = APIRouter()
NDJSON = "application/x-ndjson"


class OllamaNameRequest(Lenient):
    model: str | None = None
    name: str | None = None  # what older clients send


class OllamaPullRequest(OllamaNameRequest):
    insecure: bool = False  # accepted and ignored: the Hub is always reached over TLS
    stream: bool = True


class OllamaCopyRequest(Lenient):
    source: str
    destination: str


class OllamaCreateRequest(OllamaNameRequest):
    model_config = ConfigDict(populate_by_name=True)

    modelfile: str | None = None
    from_: str | None = Field(None, alias="from")
    system: str | None = None
    template: str | None = None
    parameters: dict[str, Any] | None = None
    messages: list[OllamaMessage] | None = None
    license: str | list[str] | None = None
    files: dict[str, str] | None = None
    adapters: dict[str, str] | None = None
    quantize: str | None = None
    stream: bool = True


class OllamaEmbeddingsRequest(Lenient):
    model: str
    prompt: str = ""
    keep_alive: str | int | float | None = None


def _name(body: OllamaNameRequest, request: Request) -> str:
    name = body.model or body.name
    if not name:
        raise InvalidParameter("give the model: {\"model\": \"NAME\"}")
    request.state.model = name
    return name


def _record(request: Request, model: str, status: int = 200) -> None:
    request.app.state.serve.record(RequestRecord(time=time.time(), client=client_host(request),
                                                 route=request.url.path, model=model, status=status))


# ---- pull ----------------------------------------------------------------------------------------------------
def _check_pullable(name: str) -> None:
    try:
        hub = mf.classify_from(name) == "hub"
    except InvalidModelfile:
        hub = False
    if not hub:
        raise InvalidParameter(f"cannot pull {name!r}: only Hugging Face GGUF references can be pulled "
                               "(hf.co/ORG/REPO:QUANT); this endpoint never talks to registry.ollama.ai")


class _Pull:
    """One `wb.hub.pull` in a worker thread; its progress, result or error handed to the loop via a queue."""

    def __init__(self, wb: Workbench, resolution: Resolution):
        self.cancel = CancelToken()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        # remote file path -> LFS sha256, to name the layer being pulled
        self._digests = {f.path: f.sha256 for f in resolution.entry.files}
        threading.Thread(target=self._run, args=(wb, resolution), name="workbench-api-pull", daemon=True).start()

    def _post(self, item) -> None:  # on the worker thread
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop closed (the endpoint stopped): nobody waits for this pull any more
            self.cancel.cancel("the endpoint stopped")

    def _run(self, wb: Workbench, resolution: Resolution) -> None:
        try:  # the route's resolution: the Hub is not asked a second time
            model = wb.hub.pull(resolution, on_progress=self._post, cancel=self.cancel)
        except Exception as exc:  # handed to the route, which answers with it
            self._post(exc)
        else:
            self._post(model)

    async def statuses(self) -> AsyncIterator[dict]:
        """Ollama's status objects up to `success`; raises the pull's error."""
        yield {"status": "pulling manifest"}
        while True:
            item = await self._queue.get()
            if isinstance(item, BaseException):
                raise item
            if not isinstance(item, Progress):
                break
            yield self._progress(item)
        for status in ("verifying sha256 digest", "writing manifest", "success"):
            yield {"status": status}

    def _progress(self, p: Progress) -> dict:
        verb, _, filename = p.task.partition(" ")
        digest = self._digests.get(filename)
        if verb != "pulling" or not digest:  # checking a partial file, waiting for another pull of it
            return {"status": p.message or p.task}
        line = {"status": f"pulling {digest[:12]}", "digest": f"sha256:{digest}", "completed": p.completed}
        return line if p.total is None else {**line, "total": p.total}


@router.post("/api/pull", responses=documented("ollama", OllamaStatus, lines=(OllamaStatus,)))
async def pull(body: OllamaPullRequest, request: Request):
    name = _name(body, request)
    _check_pullable(name)
    state = request.app.state.serve
    if state.closing:
        raise ShuttingDown("the endpoint is shutting down")
    wb = state.wb
    # resolved before answering, so an unknown repo or quant (or offline mode) is a plain HTTP error
    resolution = await run_in_threadpool(wb.hub.resolve, name)
    job = _Pull(wb, resolution)
    if body.stream:
        return StreamingResponse(_pull_lines(request, name, job), media_type=NDJSON)
    watcher = asyncio.ensure_future(watch_disconnect(request, job.cancel))  # a CancelToken has .cancel()
    try:
        async for _ in job.statuses():
            pass
    finally:
        watcher.cancel()
    _record(request, name)
    return {"status": "success"}


async def _pull_lines(request: Request, name: str, job: _Pull):
    # uvicorn speaks ASGI 2.4, so Starlette notices a hang-up only at the next write: watch for it ourselves
    watcher = asyncio.ensure_future(watch_disconnect(request, job.cancel))
    status = 499  # unless the pull ends one way or the other: the client went away
    try:
        async for line in job.statuses():
            yield ndjson_line(line)
        status = 200
    except WorkbenchError as exc:
        status = exc.http_status
        yield ndjson_line({"error": exc.message})
    except Exception as exc:
        _log.error("pull of %s failed: %s", name, type(exc).__name__, exc_info=exc)
        status = 500
        yield ndjson_line({"error": "internal error (see the Workbench log)"})
    finally:
        watcher.cancel()
        job.cancel.cancel("the client went away")  # a no-op once the pull has finished
        _record(request, name, status)


# ---- delete / copy -------------------------------------------------------------------------------------------
@router.delete("/api/delete", response_class=Response,
                responses={200: {"description": "deleted (no body)"}, **errors("ollama")})
async def delete(body: OllamaNameRequest, request: Request):
    name = _name(body, request)
    await run_in_threadpool(_delete, request.app.state.serve.wb, name)
    _record(request, name)
    return Response(status_code=200)


def _delete(wb: Workbench, name: str) -> None:
    found = resolve(wb, name, scope="latest")  # a preset by NAME or NAME:latest; a tag names a model
    if isinstance(found, PresetMatch):
        wb.presets.delete(found.version.preset_name)
    elif isinstance(found, ModelMatch):  # a library name, or the hf.co/… it was pulled by
        wb.library.remove(found.model.name)
    else:
        raise NotFound(f"model '{name}' not found")


@router.post("/api/copy", response_class=Response,
              responses={200: {"description": "copied (no body)"}, **errors("ollama")})
async def copy(body: OllamaCopyRequest, request: Request):
    request.state.model = body.source
    await run_in_threadpool(_copy, request.app.state.serve.wb, body.source, body.destination)
    _record(request, body.source)
    return Response(status_code=200)


def _copy(wb: Workbench, source: str, destination: str) -> None:
    found = resolve(wb, source)
    if isinstance(found, NoMatch) and found.preset is not None:  # the preset has no such tag or version
        raise found.error()
    if not isinstance(found, PresetMatch | ModelMatch):
        raise NotFound(f"model '{source}' not found")
    if isinstance(resolve(wb, destination, scope="latest"), PresetMatch | ModelMatch):
        raise InvalidParameter(f"destination {destination!r} already exists: delete it first or pick another name")
    if isinstance(found, PresetMatch):
        target = check_preset_name(destination.removesuffix(":latest"))
        wb.presets.create(target, found.version.content, message=f"copied from {source}")
        return
    wb.library.alias(found.model.name, destination)


# ---- create --------------------------------------------------------------------------------------------------
@router.post("/api/create", responses=documented("ollama", OllamaStatus, lines=(OllamaStatus,)))
async def create(body: OllamaCreateRequest, request: Request):
    name = _name(body, request)
    if body.files or body.adapters or body.quantize:
        raise InvalidParameter("files, adapters and quantize are not supported: create FROM a library model, a "
                               "preset, a GGUF path or an hf.co reference")
    wb = request.app.state.serve.wb
    preset = check_preset_name(name.removesuffix(":latest"))
    version, saved = await run_in_threadpool(_save, wb, preset, body)
    _record(request, name)
    if not body.stream:
        return {"status": "success"}
    statuses = ["parsing modelfile", f"using existing layer sha256:{version.model_sha256}",
                f"writing manifest (version {version.number})" if saved else "unchanged", "success"]
    return StreamingResponse(iter([ndjson_line({"status": s}) for s in statuses]), media_type=NDJSON)


def _save(wb: Workbench, preset: str, body: OllamaCreateRequest):
    text = body.modelfile if body.modelfile is not None else _structured_text(wb, body)
    if wb.presets.exists(preset):
        return wb.presets.save(preset, text, message="saved through /api/create")
    return wb.presets.create(preset, text, message="created through /api/create"), True


def _structured_text(wb: Workbench, body: OllamaCreateRequest) -> str:
    """The Modelfile the new-style fields describe; FROM a preset starts from that preset's latest text."""
    if not body.from_:
        raise InvalidParameter("give \"from\" (a library model, preset, GGUF path or hf.co reference) or a "
                               "\"modelfile\"")
    source = resolve(wb, body.from_)
    if isinstance(source, NoMatch) and source.preset is not None:  # the preset has no such tag or version
        raise source.error()
    base = mf.parse(source.version.content) if isinstance(source, PresetMatch) else mf.Modelfile(from_=body.from_)
    changes: dict[str, Any] = {}
    if body.template is not None:
        changes["template"] = body.template
    if body.system is not None:
        changes["system"] = body.system
    if body.parameters:
        given = [(spec(k).name, parse_parameter(k, v)) for k, values in body.parameters.items()
                 for v in (values if isinstance(values, list) else [values])]
        names = {k for k, _ in given}  # the request's values replace the base's for those names
        changes["parameters"] = tuple(p for p in base.parameters if p[0] not in names) + tuple(given)
    if body.messages is not None:
        changes["messages"] = tuple(mf.Message(m.role, m.content) for m in body.messages)
    if body.license is not None:
        changes["licenses"] = (body.license,) if isinstance(body.license, str) else tuple(body.license)
    return mf.render(dataclasses.replace(base, **changes))


# ---- legacy embeddings ---------------------------------------------------------------------------------------
@router.post("/api/embeddings", responses=documented("ollama", OllamaEmbedding))
async def embeddings(body: OllamaEmbeddingsRequest, request: Request):
    request.state.model = body.model
    state = request.app.state.serve
    target = await run_in_threadpool(state.resolve, body.model)
    if not body.prompt:  # Ollama answers an empty prompt with an empty vector (after loading the model)
        await run_in_threadpool(state.load_model, target)
        _record(request, body.model)
        return {"embedding": []}
    result = await run_in_threadpool(state.embed, target, [body.prompt], True, "/api/embeddings", client_host(request))
    return {"embedding": result.vectors[0]}
