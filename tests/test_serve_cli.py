"""`workbench serve`, `workbench ps` and `workbench bench` through the real CLI entry point."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from tests.serve_support import tiny_server
from tests.test_engine_mechanics import wait_until
from workbench.app import Workbench
from workbench.cli import main
from workbench.measure.bench import _body, load_prompts, percentile
from workbench.paths import default_paths


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_path):
    yield from tiny_server(tmp_path_factory, tiny_model_path, "serve-cli", parallel=2)


def test_bench_sweeps_levels_and_reports_json(server, capsys, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text('first prompt\n\n{"prompt": "second prompt"}\n')
    code = main(["bench", server.url, "--model", "tiny:F32", "--concurrency", "1,3", "--max-tokens", "4",
                 "--requests", "2", "--prompts", str(prompts), "--json"])
    assert code == 0
    levels = json.loads(capsys.readouterr().out)
    assert [lv["concurrency"] for lv in levels] == [1, 3]
    for lv in levels:
        assert lv["errors"] == 0 and lv["requests"] == 2 * lv["concurrency"]
        assert lv["output_tokens"] == 4 * lv["requests"] and lv["tokens_per_second"] > 0
        assert 0 < lv["ttft_p50"] <= lv["ttft_p95"]
        # the tiny model is so fast that a stream's pieces may queue up and go out as one chunk: no gap then
        assert lv["itl_p50"] is None or 0 < lv["itl_p50"] <= lv["itl_p95"]


def test_bench_table_and_chat_mode(server, capsys):
    seen = len(server.state.request_log(1000))
    assert main(["bench", server.url + "/v1", "--model", "terse", "--chat", "-c", "2", "--max-tokens", "3",
                 "--ignore-eos", "--requests", "1"]) == 0
    header, *rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert header == ["CLIENTS", "REQS", "ERRORS", "TOK/S", "TTFT", "P50", "TTFT", "P95", "ITL", "P50", "ITL", "P95"]
    (row,) = rows
    assert row[:3] == ["2", "2", "0"] and float(row[3]) > 0 and row[5] == "ms"  # clients, requests, errors, …
    # what reached the endpoint: a 4-token warm-up, then two chat requests of exactly 3 tokens (--ignore-eos)
    log = server.state.request_log(1000)[seen:]
    assert [(r.route, r.model, r.status, r.completion_tokens) for r in log] == \
        [("/v1/chat/completions", "terse@1", 200, 4)] + [("/v1/chat/completions", "terse@1", 200, 3)] * 2


def test_bench_errors_are_reported(server, capsys):
    assert main(["bench", server.url, "--model", "tiny:F32", "-c", "1,x"]) == 2
    assert main(["bench", server.url, "--model", "missing", "-c", "1"]) == 1
    assert "warm-up" in capsys.readouterr().err


def test_bench_helpers():
    assert _body("m", "p", 8, False, 0.0, True, ignore_eos=True)["ignore_eos"] is True
    assert "ignore_eos" not in _body("m", "p", 8, True, 0.0, True, ignore_eos=False)
    assert percentile([], 50) is None
    assert percentile([3, 1, 2, 4], 50) == 2 and percentile([3, 1, 2, 4], 95) == 4
    assert len(load_prompts(None)) >= 4


def test_ps_asks_the_running_endpoint(server, capsys):
    httpx.post(server.url + "/v1/completions", json={"model": "tiny:F32", "prompt": "x", "max_tokens": 1})
    assert main(["ps", "--url", server.url]) == 0
    assert "tiny:F32" in capsys.readouterr().out
    assert main(["ps", "--url", server.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "tiny:F32"


def test_ps_without_an_endpoint_is_a_clear_error(capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["ps", "--url", f"http://127.0.0.1:{port}"]) == 1
    assert "no endpoint answers" in capsys.readouterr().err


def test_serve_refuses_an_exposed_bind_without_a_key(capsys, monkeypatch):
    monkeypatch.delenv("WORKBENCH_API_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 1
    assert "API key" in capsys.readouterr().err


def test_serve_runs_in_the_foreground_until_interrupted(workbench_home, tiny_model_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home)}
    with Workbench(default_paths()) as wb:
        wb.library.import_file(tiny_model_path, name="tiny:F32")
    proc = subprocess.Popen([sys.executable, "-c", "from workbench.cli import entry; entry()", "serve", "--port",
                             str(port)], env=env,
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    http = httpx.Client(timeout=60)

    def up() -> bool:
        try:
            return proc.poll() is not None or http.get(url + "/health").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_until(up, timeout=60) and proc.poll() is None
        reply = http.post(url + "/api/generate", json={"model": "tiny:F32", "prompt": "x", "stream": False,
                                                       "options": {"num_predict": 2}})
        assert reply.json()["eval_count"] == 2
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        http.close()
    assert proc.returncode in (0, 130) and f"serving on http://127.0.0.1:{port}" in err


def test_serve_options_default_to_the_endpoint_config():
    """`workbench serve` starts from ServeConfig's defaults (serve/config.py holds them once, for the app too)."""
    import typer.main

    from workbench.cli import register_commands
    from workbench.cli.common import app
    from workbench.serve.config import ServeConfig

    register_commands()
    serve = typer.main.get_command(app).commands["serve"]
    defaults = {p.name: p.default for p in serve.params}
    names = ("host", "port", "parallel", "queue_size", "max_tokens_cap", "reproducible")
    assert {n: defaults[n] for n in names} == {n: getattr(ServeConfig(), n) for n in names}
