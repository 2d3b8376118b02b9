"""The endpoint's FastAPI app factory: `create_app(workbench, config)`.

Wires the routers over one `ServeState`, the safety middleware (security.py; CORS only for configured origins),
/health and /metrics, and the error mapping: a WorkbenchError becomes its status in the route family's shape, a
bad body a 400 naming the field, anything else a bare 500 (docs/design.md §7.1). `app.state` carries what the
app's Server page calls: `serve`, `shutdown()`, `key_metrics()`, `request_log(n)`.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException

from ..errors import QueueFull, WorkbenchError
from . import (
    anthropic_format,
    anthropic_routes,
    ollama_manage,
    ollama_routes,
    openai_routes,
    responses_routes,
    token_routes,
)
from .config import ServeConfig
from .metrics import RequestRecord
from .response_schemas import Health, documented
from .security import BodyTooLarge, SecurityMiddleware
from .state import ServeState

if TYPE_CHECKING:
    from ..app import Workbench

_log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "1"


def create_app(workbench: Workbench, config: ServeConfig) -> FastAPI:
    state = ServeState(workbench, config)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        state.shutdown()  # uvicorn stopping: end the streams still running so their connections close

    app = FastAPI(title="Workbench endpoint", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.serve = state
    app.state.shutdown = state.shutdown
    app.state.key_metrics = state.key_metrics
    app.state.request_log = state.request_log
    app.include_router(openai_routes.router)
    app.include_router(responses_routes.router)
    app.include_router(anthropic_routes.router)
    app.include_router(ollama_routes.router)
    app.include_router(ollama_manage.router)
    app.include_router(token_routes.router)
    _add_basic_routes(app, state)
    _add_error_handlers(app, state)
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                           allow_headers=["Authorization", "Content-Type", "x-api-key", "anthropic-version"])
    # outermost: a foreign Host never reaches a route; refusals go to the audit trail (queued, off the loop)
    app.add_middleware(SecurityMiddleware, config=config, on_refused=workbench.audit.endpoint_refused)
    return app


def _add_basic_routes(app: FastAPI, state: ServeState) -> None:
    @app.get("/health", responses=documented("openai", Health))
    async def health():
        return {"status": "ok", "models_loaded": len(state.wb.runtime.loaded())}

    @app.get("/")
    async def root():
        return Response("Workbench endpoint is running (OpenAI /v1, Ollama /api)\n", media_type="text/plain")

    @app.get("/metrics")
    async def metrics():
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def _error(request: Request, status: int, message: str, code: str | None, headers: dict | None = None):
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    if anthropic_format.is_anthropic_path(request.url.path):
        return anthropic_format.error_response(status, message, code, headers)
    type_ = "invalid_request_error" if status < 500 else "server_error"
    if status == 401:
        type_ = "authentication_error"
    return JSONResponse({"error": {"message": message, "type": type_, "param": None, "code": code}},
                        status_code=status, headers=headers)


def _record_error(state: ServeState, request: Request, status: int) -> None:
    model = getattr(request.state, "model", None)
    state.record(RequestRecord(time=time.time(), client=request.client.host if request.client else "-",
                               route=request.url.path, model=model if isinstance(model, str) else "-",
                               status=status))


def validation_message(exc: RequestValidationError) -> str:
    """Which fields are wrong and why — never their values (they may be prompt text)."""
    problems = []
    for error in exc.errors()[:5]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        if error.get("type") == "json_invalid":
            problems.append("the body is not valid JSON")
            continue
        problems.append(f"{loc}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(problems)


def _add_error_handlers(app: FastAPI, state: ServeState) -> None:
    @app.exception_handler(WorkbenchError)
    async def workbench_error(request: Request, exc: WorkbenchError):
        _record_error(state, request, exc.http_status)
        headers = {"Retry-After": RETRY_AFTER_SECONDS} if isinstance(exc, QueueFull) or exc.http_status == 503 \
            else None
        return _error(request, exc.http_status, exc.message, exc.code, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError):
        _record_error(state, request, 400)
        return _error(request, 400, validation_message(exc), "invalid_request")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if isinstance(exc.__cause__, BodyTooLarge):
            status, message = 413, f"request body over {state.config.max_body_bytes} bytes"
        elif exc.status_code == 400:  # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8)
            status, message = 400, "the body could not be read as JSON text (UTF-8)"
        else:
            status, message = exc.status_code, str(exc.detail)
        _record_error(state, request, status)
        return _error(request, status, message, "http_error")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        _log.error("internal error on %s: %s", request.url.path, type(exc).__name__, exc_info=exc)
        _record_error(state, request, 500)
        return _error(request, 500, "internal error (see the Workbench log)", "internal_error")
