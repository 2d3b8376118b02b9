"""The Server page on real widgets: start the endpoint in-process, query it with the real `openai` client, watch
the request log and metrics update, stop it; refuse an unsafe bind inline.
"""

from __future__ import annotations

import socket

import openai
import pytest
from PySide6.QtGui import QGuiApplication

from ui.main_window import MainWindow


@pytest.fixture
def window(qtbot, wb, tiny_model_path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    win = MainWindow(wb)
    qtbot.addWidget(win)
    yield win
    win.close()


def _start(qtbot, window, page):
    page.port.setValue(0)  # any free port
    page.start_button.click()
    qtbot.waitUntil(lambda: window.endpoint is not None, timeout=60000)
    return window.endpoint


def test_start_query_with_openai_watch_and_stop(qtbot, window):
    wb = window.wb
    page = window.show_page("Server")
    server = _start(qtbot, window, page)
    url = page.url_label.text()
    assert url == server.url and url.startswith("http://127.0.0.1:") and not url.endswith(":0")
    assert window.status_endpoint.text() == f"Endpoint: {url}"
    assert not page.warning.isVisible() and not page.start_button.isEnabled() and not page.port.isEnabled()
    page.copy_button.click()
    assert QGuiApplication.clipboard().text() == url

    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    reply = client.chat.completions.create(model="tiny:F32", messages=[{"role": "user", "content": "Hi"}],
                                           max_tokens=6, temperature=0)
    assert reply.usage.completion_tokens == 6
    qtbot.waitUntil(lambda: page.log_table.rowCount() == 1, timeout=10000)  # the QTimer polls the log
    row = [page.log_table.item(0, c).text() for c in range(page.log_table.columnCount())]
    assert row[2:7] == ["/v1/chat/completions", "tiny:F32", "200", str(reply.usage.prompt_tokens), "6"]
    assert page.metric_labels["requests"].text() == "1" and page.metric_labels["errors"].text() == "0"

    # the app's chat runs on the same loaded model as the endpoint (one Runtime, same load options)
    session = wb.sessions.create(model_name="tiny:F32", parameter_overrides={"num_predict": 5})
    chat = wb.chat.send(session.id, "Hello").collect()
    assert chat.status == "complete" and len(wb.runtime.loaded()) == 1

    client.close()  # an idle keep-alive connection would hold uvicorn's graceful stop until its timeout
    page.stop_button.click()
    qtbot.waitUntil(lambda: window.endpoint is None, timeout=60000)
    assert page.url_label.text() == "off" and page.start_button.isEnabled()
    window.update_status()
    assert window.status_endpoint.text() == "Endpoint: off"
    with pytest.raises(openai.APIConnectionError), openai.OpenAI(base_url=url + "/v1", api_key="x",
                                                                 max_retries=0) as closed:
        closed.models.list()
    server = _start(qtbot, window, page)  # and it starts again
    with openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0) as again:
        assert again.models.list().data
    page.stop_button.click()
    qtbot.waitUntil(lambda: window.endpoint is None, timeout=60000)


def test_a_bind_beyond_loopback_warns_and_needs_an_api_key(qtbot, window):
    page = window.show_page("Server")
    window.show()
    page.host.setCurrentText("0.0.0.0")
    assert page.warning.isVisible()
    page.start_button.click()
    assert "API key" in page.error.text() and window.endpoint is None and page.task is None
    page.api_key.setText("short")
    page.start_button.click()
    assert "at least 16 characters" in page.error.text()
    page.host.setCurrentText("127.0.0.1")
    page.api_key.clear()
    page.cors.setText("*")
    page.start_button.click()
    assert "wildcard CORS" in page.error.text() and window.endpoint is None
    assert not page.warning.isVisible()


def test_a_port_in_use_is_reported_inline(qtbot, window):
    page = window.show_page("Server")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        page.port.setValue(taken.getsockname()[1])
        page.start_button.click()
        qtbot.waitUntil(lambda: page.task is None, timeout=60000)
    assert "could not start" in page.error.text() and window.endpoint is None
    assert page.start_button.isEnabled() and page.url_label.text() == "off"


def test_the_fields_start_at_the_endpoint_defaults(qtbot, window):
    """The page starts from ServeConfig's defaults (serve/config.py holds them once, for `workbench serve` too)."""
    import dataclasses

    from workbench.serve.config import ServeConfig

    page = window.show_page("Server")
    expected = ServeConfig(reproducible=window.wb.settings.reproducible)
    assert dataclasses.asdict(page.config()) == dataclasses.asdict(expected)
