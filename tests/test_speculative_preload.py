"""Loading before anyone asks: `serve --preload NAME`, the Chat page's session model, `wb.chat.preload`.

Real parts: the `workbench serve` process on 127.0.0.1 asked over HTTP, the real MainWindow offscreen with its
TaskRunner, the tiny model in a real library.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest

from tests.serve_support import tiny_workbench
from tests.test_engine_mechanics import wait_until
from ui.main_window import MainWindow
from workbench.errors import NotFound


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_preload_loads_the_model_before_any_request(tmp_path, tiny_model_path):
    tiny_workbench(tmp_path, tiny_model_path).close()
    port = _free_port()
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path)}
    code = "import sys; from workbench.cli import main; raise SystemExit(main(sys.argv[1:]))"
    server = subprocess.Popen([sys.executable, "-c", code, "serve", "--port", str(port), "--preload", "terse"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def loaded() -> list:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/ps", timeout=5).json()["models"]
            except httpx.HTTPError:
                return []

        assert wait_until(lambda: bool(loaded()), timeout=60), "nothing was preloaded"
        assert [row["name"] for row in loaded()] == ["terse"]  # /api/ps names who used the instance
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60, json={
            "model": "terse", "messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 200
        assert len(loaded()) == 1  # the answer used the preloaded instance, not a second load
    finally:
        server.terminate()
        server.wait(30)


def test_serve_refuses_to_preload_an_unknown_name(tmp_path, tiny_model_path):
    tiny_workbench(tmp_path, tiny_model_path).close()
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path)}
    code = "import sys; from workbench.cli import main; raise SystemExit(main(sys.argv[1:]))"
    result = subprocess.run([sys.executable, "-c", code, "serve", "--port", "0", "--preload", "nosuch"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "'nosuch' is neither a preset" in " ".join(result.stderr.split())


def test_chat_preload_loads_what_the_answer_uses(wb, tiny_model_path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.presets.create("looky", "FROM tiny:F32\nPARAMETER speculative lookup\n")
    wb.chat.preload("looky")
    loaded = wb.runtime.loaded()
    assert [row.name for row in loaded] == ["tiny:F32"]
    session = wb.sessions.create(preset_ref="looky")
    wb.chat.send(session.id, "hello").collect()
    assert len(wb.runtime.loaded()) == 1  # the answer found the preloaded instance
    with pytest.raises(NotFound):
        wb.chat.preload("nosuch")


def test_opening_a_chat_session_loads_its_model_on_a_worker(qtbot, wb, tiny_model_path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    ref = wb.presets.create("helper", "FROM tiny:F32\nPARAMETER temperature 0\n").ref
    window = MainWindow(wb)
    qtbot.addWidget(window)
    tasks = []
    real_preload = window.preload
    window.preload = lambda name: tasks.append(real_preload(name)) or tasks[-1]
    assert wb.runtime.loaded() == []
    assert window.open_chat(ref)
    assert len(tasks) == 1
    with qtbot.waitSignal(tasks[0].done, timeout=60000):
        pass
    assert [row.name for row in wb.runtime.loaded()] == ["tiny:F32"]
    window.close()


def test_a_chat_template_is_compiled_once_per_source():
    """Every chat request built its template twice (~16 ms of Python each on a real one, in its first token's
    time); the compiled form is now shared by source, and a render still gets its own budget."""
    from tests.tinymodel import CHAT_TEMPLATE
    from workbench.engine.templates import ChatTemplate

    first, second = ChatTemplate(CHAT_TEMPLATE), ChatTemplate(CHAT_TEMPLATE + " ")
    assert ChatTemplate(CHAT_TEMPLATE)._template is first._template
    assert second._template is not first._template
    messages = [{"role": "user", "content": "hi"}]
    assert first.render(messages) == ChatTemplate(CHAT_TEMPLATE).render(messages) == "<|user|>hi<|end|><|assistant|>"
