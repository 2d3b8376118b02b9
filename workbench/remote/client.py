"""One streamed chat completion from an OpenAI-compatible server, with what the server reported about itself.

httpx streams the response; the SSE lines are split by hand (`data: {...}`, ten lines, the same reading as
measure/bench.py) rather than through the openai package, which the runtime does not depend on. A stream that
ends without a finish reason or [DONE] (the server dropped the connection) is an error, never a silently short
answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import Cancelled, WorkbenchError
from ..tasks import CancelToken
from .registry import RemoteEndpoint

# Ollama-named parameters (what presets and suites use) → the OpenAI request fields a remote understands
OPENAI_FIELDS = {"num_predict": "max_tokens", "temperature": "temperature", "top_p": "top_p", "seed": "seed",
                 "stop": "stop", "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty"}
CONNECT_TIMEOUT = 10.0


class RemoteError(WorkbenchError, ConnectionError):
    """A remote endpoint could not be reached, refused the request or broke off its answer."""

    http_status = 502
    code = "remote_error"


@dataclass(frozen=True)
class RemoteAnswer:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    ttft_seconds: float | None
    seconds: float
    provenance: dict[str, Any] = field(default_factory=dict)  # endpoint, base_url, model, reported model, fingerprint

    @property
    def tokens_per_second(self) -> float | None:
        if self.ttft_seconds is None or self.completion_tokens < 2 or self.seconds <= self.ttft_seconds:
            return None
        return (self.completion_tokens - 1) / (self.seconds - self.ttft_seconds)


def request_body(model: str, messages: Sequence[Mapping[str, Any]], parameters: Mapping[str, Any]) -> dict:
    body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages], "stream": True,
                            "stream_options": {"include_usage": True}}
    for name, value in parameters.items():
        if name in OPENAI_FIELDS and value is not None:
            body[OPENAI_FIELDS[name]] = list(value) if name == "stop" and not isinstance(value, str) else value
    return body


def stream_chat(endpoint: RemoteEndpoint, key: str | None, messages: Sequence[Mapping[str, Any]],
                parameters: Mapping[str, Any], *, on_text: Callable[[str], None] | None = None,
                cancel: CancelToken | None = None, timeout: float = 600.0) -> RemoteAnswer:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = request_body(endpoint.model, messages, parameters)
    state = _StreamState(time.perf_counter())
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT), headers=headers) as client, \
                client.stream("POST", endpoint.base_url + "/chat/completions", json=body) as response:
            if response.status_code != 200:
                detail = response.read().decode("utf-8", "replace")[:300]
                raise RemoteError(f"remote {endpoint.name} answered HTTP {response.status_code}: {detail}")
            for line in response.iter_lines():
                if cancel is not None and cancel.cancelled:
                    raise Cancelled(f"the answer from remote {endpoint.name} was cancelled")
                if state.read_line(line, on_text):
                    break
    except httpx.HTTPError as exc:
        raise RemoteError(f"remote {endpoint.name} ({endpoint.base_url}) failed: {type(exc).__name__}: "
                          f"{exc}".rstrip(": ")) from None
    if not state.finished and state.finish_reason is None:
        raise RemoteError(f"remote {endpoint.name} ended its answer early (the stream stopped after "
                          f"{len(state.parts)} pieces without a finish reason)")
    return state.answer(endpoint)


class _StreamState:
    """What has arrived so far of one streamed answer."""

    def __init__(self, started: float):
        self.started = started
        self.parts: list[str] = []
        self.ttft: float | None = None
        self.finish_reason: str | None = None
        self.finished = False
        self.usage: dict[str, Any] = {}
        self.reported_model: str | None = None
        self.fingerprint: str | None = None

    def read_line(self, line: str, on_text: Callable[[str], None] | None) -> bool:
        """One SSE line; True at [DONE]."""
        if not line.startswith("data:"):
            return False
        data = line[5:].strip()
        if data == "[DONE]":
            self.finished = True
            return True
        try:
            chunk = json.loads(data)
        except ValueError:
            raise RemoteError(f"the remote sent a line that is not JSON: {data[:120]!r}") from None
        if "error" in chunk:
            raise RemoteError(f"the remote reported an error mid-answer: {str(chunk['error'])[:300]}")
        self.reported_model = chunk.get("model") or self.reported_model
        self.fingerprint = chunk.get("system_fingerprint") or self.fingerprint
        self.usage = chunk.get("usage") or self.usage
        for choice in chunk.get("choices") or ():
            piece = (choice.get("delta") or {}).get("content") or ""
            if piece:
                self.ttft = self.ttft if self.ttft is not None else time.perf_counter() - self.started
                self.parts.append(piece)
                if on_text is not None:
                    on_text(piece)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return False

    def answer(self, endpoint: RemoteEndpoint) -> RemoteAnswer:
        return RemoteAnswer(
            text="".join(self.parts), finish_reason=self.finish_reason,
            prompt_tokens=int(self.usage.get("prompt_tokens") or 0),
            completion_tokens=int(self.usage.get("completion_tokens") or len(self.parts)),
            ttft_seconds=self.ttft, seconds=time.perf_counter() - self.started,
            provenance={"endpoint": endpoint.name, "base_url": endpoint.base_url, "model": endpoint.model,
                        "reported_model": self.reported_model, "system_fingerprint": self.fingerprint})
