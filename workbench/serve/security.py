"""ASGI middleware for the endpoint's safe defaults: Host allowlist, API key, body size cap.

Written as plain ASGI (not Starlette's BaseHTTPMiddleware) so streaming responses pass through untouched and
a rejected request costs no more than reading its headers. The key comes as `Authorization: Bearer` or as
Anthropic's `x-api-key`, compared with `hmac.compare_digest` (constant time). Error bodies use OpenAI's shape
(Anthropic's on /v1/messages) and never echo request content.
"""

from __future__ import annotations

import hmac
import json

from . import anthropic_format
from .config import ServeConfig

OPEN_PATHS = {"/health", "/api/version", "/"}  # liveness probes work without a key; they reveal nothing


def error_body(message: str, type_: str, code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}}).encode()


async def send_error(send, status: int, message: str, type_: str, code: str | None = None,
                     headers: list[tuple[bytes, bytes]] | None = None, path: str = "") -> None:
    if anthropic_format.is_anthropic_path(path):
        body = json.dumps(anthropic_format.error_body(status, message)).encode()
    else:
        body = error_body(message, type_, code)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _host_without_port(host: str) -> str:
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class SecurityMiddleware:
    def __init__(self, app, config: ServeConfig, on_refused=None):
        self.app = app
        self.config = config
        self.on_refused = on_refused  # on_refused(status, client, path, code): the audit trail's hook
        self.allowed_hosts = {h.lower() for h in config.host_allowlist()}
        self.expected = f"Bearer {config.api_key}".encode() if config.api_key else None
        self.expected_x_key = config.api_key.encode() if config.api_key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        host = _host_without_port(headers.get(b"host", b"").decode("latin-1")).lower()
        if host not in self.allowed_hosts:
            return await self._refuse(scope, send, 403, "the Host header is not allowed for this endpoint",
                                      "permission_error", "host_not_allowed")
        if (self.expected and scope["path"] not in OPEN_PATHS and scope["method"] != "OPTIONS"
                and not self._authorised(headers)):
            return await self._refuse(scope, send, 401, "missing or wrong API key: send 'Authorization: "
                                      "Bearer <key>' (or Anthropic's 'x-api-key: <key>')",
                                      "authentication_error", "invalid_api_key", [(b"www-authenticate", b"Bearer")])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.config.max_body_bytes):
            return await self._refuse(scope, send, 413, f"request body over {self.config.max_body_bytes} bytes",
                                      "invalid_request_error", "body_too_large")
        await self.app(scope, self._capped(receive), send)

    def _authorised(self, headers: dict) -> bool:
        """Either header may carry the key; both are compared, so the time does not say which was tried."""
        bearer = hmac.compare_digest(headers.get(b"authorization", b""), self.expected)
        x_key = hmac.compare_digest(headers.get(b"x-api-key", b""), self.expected_x_key)
        return bearer or x_key

    async def _refuse(self, scope, send, status: int, message: str, type_: str, code: str, headers=None) -> None:
        if self.on_refused is not None:
            self.on_refused(status, (scope.get("client") or ("-",))[0], scope["path"], code)
        await send_error(send, status, message, type_, code, headers, path=scope["path"])

    def _capped(self, receive):
        """Also cap chunked bodies that carry no Content-Length."""
        seen = 0
        limit = self.config.max_body_bytes

        async def capped_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        return capped_receive


class BodyTooLarge(Exception):
    pass
