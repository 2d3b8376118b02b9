"""What every route module shares: the client's address for the request log, a finished answer's finish reason,
and Ollama's NDJSON line."""

from __future__ import annotations

import json

from fastapi import Request

from ..errors import EngineError


def client_host(request: Request) -> str:
    """The client's address for the request log."""
    return request.client.host if request.client else "-"


def finish_reason(final) -> str:
    """The FinalEvent's finish reason; an engine failure raises (a 500 in the API's error shape)."""
    if final.finish_reason == "error":
        raise EngineError(final.error or "generation failed")
    return final.finish_reason


def ndjson_line(payload: dict) -> str:
    """One line of an Ollama stream: compact JSON and a newline."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n"
