"""Endpoint settings and the safety rules they must satisfy before a socket is opened.

Defaults are the safe ones (docs/design.md §10): loopback bind, no CORS, capped bodies and max_tokens. Binding anything
but loopback without an API key is refused — the remedy for Ollama's CVE-2024-28224-style exposure is to make
the unsafe configuration impossible to reach by accident, not to warn about it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..errors import InvalidParameter

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
MAX_PARALLEL = 64  # slots per model


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeConfig:
    """The endpoint's settings; its defaults are the ones `workbench serve` and the Server page start with."""

    host: str = "127.0.0.1"
    port: int = 11435
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # extra Host header values (e.g. a LAN name) besides the bind address
    parallel: int | None = None  # slots per model; None: the settings' default
    queue_size: int = 64  # waiting requests per model before 503
    max_body_bytes: int = 4 * 1024 * 1024
    max_tokens_cap: int = 32768
    reproducible: bool = False  # the endpoint defaults to throughput; the app to reproducible output
    speculative: str | None = None  # default speculation: "lookup" or a draft model (chat/speculation.py)
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    def validate(self) -> ServeConfig:
        if not 0 <= self.port < 65536:  # 0: any free port (tests, the GUI's "pick one")
            raise InvalidParameter(f"port {self.port} is not a TCP port (1-65535, or 0 for any free port)")
        if self.parallel is not None and not 1 <= self.parallel <= MAX_PARALLEL:
            raise InvalidParameter(f"parallel {self.parallel} must be between 1 and {MAX_PARALLEL} slots")
        if self.queue_size < 0 or self.max_tokens_cap < 1 or self.max_body_bytes < 1024:
            raise InvalidParameter("queue size must be ≥ 0, the max_tokens cap ≥ 1 and the body cap ≥ 1024 bytes")
        if not is_loopback(self.host) and not self.api_key:
            raise InvalidParameter(
                f"binding {self.host} exposes the endpoint beyond this machine: set an API key "
                "(--api-key or WORKBENCH_API_KEY) to do that")
        if "*" in self.cors_origins:
            raise InvalidParameter("wildcard CORS is not allowed: list the exact origins (e.g. http://localhost:3000)")
        if self.api_key is not None and len(self.api_key) < 16:
            raise InvalidParameter("the API key must be at least 16 characters")
        return self

    def host_allowlist(self) -> set[str]:
        """Host header values accepted (DNS-rebinding defence): loopback names plus the bind address."""
        hosts = {"localhost", "127.0.0.1", "[::1]", *self.allowed_hosts}
        if self.host not in ("0.0.0.0", "::"):
            hosts.add(self.host if ":" not in self.host else f"[{self.host.strip('[]')}]")
        return hosts
