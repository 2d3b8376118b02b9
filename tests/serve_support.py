"""Helpers for the endpoint tests: a Workbench of its own per module, the real server on 127.0.0.1.

A module-scoped Workbench (its own data dir, not the per-test WORKBENCH_HOME) keeps one loaded model for the
module's tests, so they cost milliseconds each; the server is the real uvicorn one on a free port.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from workbench.app import Workbench
from workbench.paths import Paths
from workbench.serve.config import ServeConfig
from workbench.serve.server import EndpointServer

# the tiny model's own template plus tools (it reads `tools`, so the endpoint accepts tool requests)
TOOLS_TEMPLATE = (
    "{% if tools %}<|system|>tools: {{ tools | tojson }}<|end|>{% endif %}"
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' + (message['content'] or '') + '<|end|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def open_workbench(root: Path, **settings) -> Workbench:
    paths = Paths(data=root / "data", config=root / "config", cache=root / "cache", logs=root / "logs")
    wb = Workbench(paths)
    wb.update_settings(**{"keep_alive_seconds": -1, "default_context": 512, **settings})
    return wb


def tiny_workbench(root: Path, tiny_model_path: Path, **settings) -> Workbench:
    """A Workbench with the tiny model as `tiny:F32` and presets `terse` and `tooly` over it."""
    wb = open_workbench(root, **settings)
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.presets.create("terse", "FROM tiny:F32\nSYSTEM You are terse.\nPARAMETER num_predict 5\n"
                               "PARAMETER temperature 0\n")
    wb.presets.create("tooly", f"FROM tiny:F32\nTEMPLATE \"\"\"{TOOLS_TEMPLATE}\"\"\"\n")
    return wb


@contextlib.contextmanager
def serving(wb: Workbench, **config):
    server = EndpointServer(wb, ServeConfig(port=0, **config)).start()
    try:
        yield server
    finally:
        server.stop()


def tiny_server(tmp_path_factory, tiny_model_path, name: str, **config):
    """Body of a module-scoped server fixture: `yield from tiny_server(...)`."""
    wb = tiny_workbench(tmp_path_factory.mktemp(name), tiny_model_path)
    with serving(wb, **config) as srv:
        yield srv
    wb.close()
