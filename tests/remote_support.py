"""Stand-ins for the remote side: an in-memory keyring backend, and an OpenAI-style server that breaks off.

The good remote in these tests is the project's own endpoint on another port (tests/serve_support.py); the bad
one is a tiny FastAPI app on 127.0.0.1 that streams two pieces and then drops the connection mid-answer.
"""

from __future__ import annotations

import contextlib
import json
import threading

import keyring
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from keyring.backend import KeyringBackend


class MemoryKeyring(KeyringBackend):
    """keyring's documented way to plug a backend in (`keyring.set_keyring`): secrets held in a dict."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.secrets.get((service, username))

    def set_password(self, service, username, password):
        self.secrets[(service, username)] = password

    def delete_password(self, service, username):
        if self.secrets.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


@contextlib.contextmanager
def using_keyring(backend):
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def dropping_app(seen: list[dict]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        seen.append({"authorization": request.headers.get("authorization"), "body": await request.json()})

        async def pieces():
            for word in ("half", " an"):
                chunk = {"model": "dropper", "choices": [{"index": 0, "delta": {"content": word}}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            raise RuntimeError("the server fell over mid-answer")  # uvicorn drops the connection

        return StreamingResponse(pieces(), media_type="text/event-stream")

    return app


class _ReadyServer(uvicorn.Server):
    """uvicorn with an Event set once its socket listens (it offers no callback of its own)."""

    def __init__(self, config):
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets=None):
        await super().startup(sockets)
        self.ready.set()


@contextlib.contextmanager
def dropping_server():
    """Yields (base URL, the requests it saw)."""
    seen: list[dict] = []
    server = _ReadyServer(uvicorn.Config(dropping_app(seen), host="127.0.0.1", port=0, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert server.ready.wait(30), "the dropping server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", seen
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def served_side(folder, tiny_model_path, **serving_options):
    """The "remote": the project's own endpoint, on its own data folder and port, serving the tiny model; yields
    its URL."""
    from tests.serve_support import serving, tiny_workbench

    wb = tiny_workbench(folder, tiny_model_path)
    try:
        with serving(wb, reproducible=True, **serving_options) as server:
            yield server.url
    finally:
        wb.close()


TERSE = "FROM tiny:F32\nSYSTEM You are terse.\nPARAMETER num_predict 5\nPARAMETER temperature 0\n"


def add_terse_preset(wb, tiny_model_path) -> None:
    """The local side of a local-vs-remote comparison: the preset the remote serves, under the same name."""
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.presets.create("terse", TERSE)

