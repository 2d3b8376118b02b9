"""Soak: 64 streaming clients against the real endpoint, a third of them hanging up at random points; afterwards
no slot is busy and nothing is queued (/metrics), the next request is served, and the process's memory is back
within 10% of where it started. The issue's two minutes by default (as CI runs it); WORKBENCH_SOAK_SECONDS=20 for a
quicker local run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import socket
import subprocess
import sys

import httpx
import psutil
import pytest

from workbench.app import Workbench

CLIENTS = 64
SECONDS = float(os.environ.get("WORKBENCH_SOAK_SECONDS", "120"))
WARM_UP_SECONDS = 30


async def _client(url: str, index: int, until: float, rng: random.Random, tally: dict) -> None:
    hangs_up = index % 3 == 0
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        while asyncio.get_running_loop().time() < until:
            body = {"model": "tiny:F32", "prompt": f"client {index}", "max_tokens": rng.randint(4, 48),
                    "stream": True}
            async with http.stream("POST", "/v1/completions", json=body) as response:
                assert response.status_code == 200, await response.aread()
                cut = rng.randint(0, 20) if hangs_up else None
                chunks = 0
                async for _line in response.aiter_lines():
                    chunks += 1
                    if cut is not None and chunks >= cut:
                        tally["hung_up"] += 1
                        break  # leaving the block closes the connection mid-stream
                else:
                    tally["finished"] += 1


def _gauges(text: str, name: str) -> list[float]:
    return [float(v) for v in re.findall(rf"^{name}{{[^}}]*}} (\S+)$", text, re.MULTILINE)]


async def _soak(url: str, seconds: float) -> dict:
    tally = {"hung_up": 0, "finished": 0}
    until = asyncio.get_running_loop().time() + seconds
    await asyncio.gather(*(_client(url, i, until, random.Random(i), tally) for i in range(CLIENTS)))
    return tally


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def endpoint_process(home):
    """`workbench serve` in a process of its own (its memory is what is measured), until the block ends."""
    port = _free_port()
    command = [sys.executable, "-c", "from workbench.cli import entry; entry()", "serve", "--port", str(port),
               "--parallel", "8", "--queue-size", str(CLIENTS)]
    server = subprocess.Popen(command, env={**os.environ, "WORKBENCH_HOME": str(home)}, stderr=subprocess.PIPE,
                              text=True)
    try:
        for line in server.stderr:  # until it says it serves
            if line.startswith("serving on"):
                break
        yield server, f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.communicate(timeout=60)


@pytest.mark.slow
def test_sixty_four_streaming_clients_some_hanging_up_leave_nothing_behind(workbench_home, tiny_model_path):
    with Workbench() as wb:
        wb.library.import_file(tiny_model_path, name="tiny:F32")
        wb.update_settings(default_context=512, keep_alive_seconds=-1)
    with endpoint_process(workbench_home) as (server, url):
        memory = psutil.Process(server.pid).memory_info
        # warm up until memory is at its working size: the model loaded, the thread pool's SQLite connections
        # with their page caches, allocator arenas, bounded logs. Measured: after a 5 s warm-up the soak still
        # grew 8% in its first 40 s (9-10% in 120 s: a flaky margin); after 30 s, 4.6% in 120 s and 5.5% in
        # 240 s — filling up, not leaking
        asyncio.run(_soak(url, WARM_UP_SECONDS))
        start = memory().rss
        tally = asyncio.run(_soak(url, SECONDS))
        assert tally["hung_up"] >= CLIENTS // 3 and tally["finished"] >= CLIENTS, tally

        metrics = httpx.get(url + "/metrics").text
        assert set(_gauges(metrics, "workbench_busy_slots")) == {0.0}
        assert set(_gauges(metrics, "workbench_queue_depth")) == {0.0}
        reply = httpx.post(url + "/v1/completions", timeout=30,
                           json={"model": "tiny:F32", "prompt": "after", "max_tokens": 3})
        assert reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] == 3
        assert memory().rss <= start * 1.10, (start, memory().rss)
