"""Run the endpoint: in the foreground for `workbench serve`, or in a background thread for the app.

`EndpointServer.start()` returns once the socket listens (or raises the bind error); `stop()` cancels in-flight
generations and waits for uvicorn. Each start builds a fresh app and uvicorn server, so it can start again.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import uvicorn

from ..errors import WorkbenchError
from .config import ServeConfig

if TYPE_CHECKING:
    from ..app import Workbench


class EndpointServer:
    def __init__(self, workbench: Workbench, config: ServeConfig):
        self.config = config.validate()
        self.workbench = workbench
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._new_server()

    def _new_server(self) -> None:
        from .app import create_app

        self.app = create_app(self.workbench, self.config)
        self._server = uvicorn.Server(uvicorn.Config(
            self.app, host=self.config.host, port=self.config.port, log_level="warning", access_log=False,
            timeout_graceful_shutdown=5, lifespan="on"))

    @property
    def url(self) -> str:
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"http://{host}:{self.bound_port}"

    @property
    def bound_port(self) -> int:
        servers = getattr(self._server, "servers", None) or []
        for server in servers:
            for sock in server.sockets:
                return sock.getsockname()[1]
        return self.config.port

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def state(self):
        """The ServeState: key_metrics(), request_log(n), metrics (what the GUI's Server page reads)."""
        return self.app.state.serve

    def serve_forever(self) -> None:
        self.workbench.audit.endpoint_started(self.config, self.config.port)  # recorded before the bind here
        try:
            self._server.run()
        finally:
            self.workbench.audit.endpoint_stopped(self.config, self.config.port)

    def start(self, timeout: float = 30.0) -> EndpointServer:
        if self.running:
            return self
        if self._server.started or self._server.should_exit:  # a stopped server: start over with a fresh one
            self._new_server()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="workbench-endpoint", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        # uvicorn offers no "started" callback; poll its flag while the thread is alive (bounded by timeout)
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            self._thread.join(0.02)
        if not self._server.started:
            self._server.should_exit = True
            raise WorkbenchError(f"the endpoint could not start on {self.config.host}:{self.config.port}: "
                                 f"{self._error or 'the port may be in use'}")
        try:
            self.workbench.audit.endpoint_started(self.config, self.bound_port)
        except WorkbenchError:  # audit_strict and the start could not be recorded: never serve unaudited
            self._server.should_exit = True
            self._thread.join(timeout)
            self._thread = None
            raise
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        except BaseException as exc:  # a bind failure ends uvicorn with SystemExit
            self._error = exc

    def stop(self, timeout: float = 10.0) -> None:
        port = self.bound_port
        self.app.state.shutdown()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
            self.workbench.audit.endpoint_stopped(self.config, port)

    def __enter__(self) -> EndpointServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
