"""A Hub that cannot be reached fails at once (no retries for DNS or refused connections, nothing printed by
huggingface_hub); a 5xx is retried once, then reported with its status. Real huggingface_hub, real sockets."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.test_cli_library import assert_one_line_error, run
from workbench.errors import HubError


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every outgoing connection attempt (httpcore opens them with socket.create_connection)."""
    attempts: list[tuple] = []
    real = socket.create_connection

    def counted(address, *args, **kwargs):
        attempts.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counted)
    return attempts


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on return: a connection there is refused


@pytest.mark.parametrize("endpoint", ["refused", "http://nonexistent.invalid"])
def test_an_unreachable_hub_fails_at_the_first_attempt_without_chatter(
        wb, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture,
        connections: list, endpoint: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}" if endpoint == "refused" else endpoint
    monkeypatch.setenv("HF_ENDPOINT", url)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")
    for call in (lambda: wb.hub.search("qwen"), lambda: wb.hub.files("alice/tiny-GGUF")):
        connections.clear()
        with pytest.raises(HubError, match=f"cannot reach the Hub at {url}"):
            call()
        # one attempt (and huggingface_hub's once-per-process fetch of its agent registry, which fails quietly);
        # huggingface_hub's own policy tries 6 times over 23 s
        assert len(connections) <= 2, connections
    assert not [r for r in caplog.records if "Retry" in r.getMessage()]
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # huggingface_hub's notices never reach the terminal


def test_search_on_the_command_line_says_one_line(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://nonexistent.invalid")
    code, out, err = run(capsys, "search", "qwen")
    assert code == 1 and out == ""
    assert_one_line_error(err, "cannot reach the Hub at http://nonexistent.invalid")
    assert "Name or service not known" in err or "resolve" in err.lower() or "getaddrinfo" in err.lower()


class _Unavailable(BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = b'{"error": "maintenance"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def unavailable_hub() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (_Unavailable,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_a_5xx_is_retried_once_then_reported(wb, monkeypatch: pytest.MonkeyPatch, unavailable_hub) -> None:
    url, hits = unavailable_hub
    monkeypatch.setenv("HF_ENDPOINT", url)
    with pytest.raises(HubError, match="503") as info:
        wb.hub.search("qwen")
    assert len(hits) == 2 and hits[0] == hits[1]  # one retry; huggingface_hub's own policy is 6 tries
    assert "maintenance" in str(info.value)
