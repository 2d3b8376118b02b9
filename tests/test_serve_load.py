"""Concurrency, cancellation and lifecycle: 16 streaming clients, disconnects free slots, a full queue is a
503 with Retry-After, stop() ends running streams, start()/stop() repeat in-process, /metrics and key metrics.

Conditions are waited for (wait_until on real state), never slept on; nothing asserts on time. A stream that
must still be running when the test acts runs on gemma with its end-of-text tokens banned: 1,500 tokens take
it many seconds here, while the tiny model would finish them in well under one.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tests.serve_support import open_workbench, serving, tiny_workbench
from tests.test_engine_mechanics import scheduler_held, wait_until
from workbench.serve.config import ServeConfig
from workbench.serve.server import EndpointServer

USER = [{"role": "user", "content": "Go on."}]
LONG = 1500  # gemma tokens: far more than a test ever waits for, so a stream is still running when we act
NO_EOS = {"1": -100, "106": -100}  # gemma's <eos> and <end_of_turn>: the long stream never ends by itself
GEMMA = "gemma-3-270m:Q4_K_M"


def long_body(stream: bool = True, **extra) -> dict:
    return {"model": GEMMA, "prompt": "Once upon a time", "max_tokens": LONG, "logit_bias": NO_EOS,
            "stream": stream, **extra}


def gemma_workbench(root, gemma_model_path):
    wb = open_workbench(root, default_context=2048)
    wb.library.import_file(gemma_model_path, name=GEMMA)
    return wb


@pytest.fixture(scope="module")
def wb(tmp_path_factory, tiny_model_path):
    workbench = tiny_workbench(tmp_path_factory.mktemp("serve-load"), tiny_model_path, default_context=4096)
    yield workbench
    workbench.close()


@pytest.fixture(scope="module")
def server(wb):
    with serving(wb, parallel=4) as srv:
        yield srv


def test_sixteen_concurrent_streaming_clients_all_complete_with_the_right_counts(server):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)

    def one(i: int) -> tuple[int, str, int, str]:
        chunks = client.chat.completions.create(model="tiny:F32", messages=USER, max_tokens=10 + i, stream=True,
                                                stream_options={"include_usage": True})
        text, usage, reason = "", None, None
        for chunk in chunks:
            if chunk.usage:
                usage = chunk.usage.completion_tokens
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                reason = chunk.choices[0].finish_reason or reason
        return i, text, usage, reason

    state = server.state
    with ThreadPoolExecutor(16) as pool:
        with scheduler_held(state.load_model(state.resolve("tiny:F32"))):  # all 16 wait, then 4 run at a time
            running = pool.map(one, range(16))
            assert wait_until(lambda: state.key_metrics().in_flight == 16)
        results = list(running)
    for i, text, usage, reason in results:
        # one byte per token, except the merged " t" (two bytes)
        assert usage == 10 + i and 10 + i <= len(text) <= 2 * (10 + i) and reason == "length"
    assert state.key_metrics().in_flight == 0
    # each decoded beside others (a scheduler running them one after another would give 1s)
    assert [r.batch_sequences > 1 for r in state.request_log(16)] == [True] * 16


def _stream_some(url: str, body: dict, chunks: int) -> int:
    """Open a stream, read `chunks` chunks with text, then drop the connection; returns chunks read."""
    seen = 0
    with httpx.Client(timeout=60) as http, http.stream("POST", url, json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {"):
                choices = json.loads(line[6:])["choices"]
                seen += bool(choices and choices[0].get("text"))
                if seen >= chunks:
                    break
    return seen


@pytest.mark.gemma
def test_a_disconnecting_client_frees_its_slot(tmp_path, gemma_model_path):
    wb = gemma_workbench(tmp_path / "disc", gemma_model_path)
    with wb, serving(wb, parallel=1) as srv:
        assert _stream_some(srv.url + "/v1/completions", long_body(), 3) == 3
        state = srv.state
        assert wait_until(lambda: state.key_metrics().in_flight == 0)  # the slot is free again
        assert not any(row.busy for row in wb.runtime.loaded())
        cut = state.request_log()[-1]
        assert cut.status == 499 and cut.finish_reason == "cancelled" and 3 <= cut.completion_tokens < LONG
        # the only slot serves the next request to the end (and Ollama's NDJSON stream cancels the same way)
        reply = httpx.post(srv.url + "/v1/completions", json=long_body(False, max_tokens=4), timeout=60).json()
        assert reply["usage"]["completion_tokens"] == 4
        ndjson = {"model": GEMMA, "prompt": "Once upon a time", "raw": True,
                  "options": {"num_predict": LONG}}
        with httpx.Client(timeout=60) as http, http.stream("POST", srv.url + "/api/generate", json=ndjson) as response:
            first = json.loads(next(response.iter_lines()))
            assert first["done"] is False
        assert wait_until(lambda: state.key_metrics().in_flight == 0)
        assert state.request_log()[-1].finish_reason == "cancelled"


@pytest.mark.gemma
def test_a_full_queue_answers_503_with_retry_after(tmp_path, gemma_model_path):
    wb = gemma_workbench(tmp_path / "queue", gemma_model_path)
    with wb, serving(wb, parallel=1, queue_size=0) as srv:
        reading, release = threading.Event(), threading.Event()

        def hold() -> None:
            with httpx.Client(timeout=60) as http, http.stream("POST", srv.url + "/v1/completions",
                                                               json=long_body()) as response:
                lines = response.iter_lines()  # held: a dropped line iterator makes httpx close the connection
                next(lines)
                reading.set()
                release.wait(60)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert reading.wait(60)
            busy = httpx.post(srv.url + "/v1/completions", json=long_body(False), timeout=60)
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert busy.json()["error"]["code"] == "queue_full"
            client = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)
            with pytest.raises(openai.InternalServerError):
                client.completions.create(model=GEMMA, prompt="Hi", max_tokens=2)
        finally:
            release.set()
            holder.join()
        assert wait_until(lambda: srv.state.key_metrics().in_flight == 0)
        ok = httpx.post(srv.url + "/v1/completions", json=long_body(False, max_tokens=2), timeout=60)
        assert ok.status_code == 200


@pytest.mark.gemma
def test_stop_ends_running_streams_and_the_server_starts_again(tmp_path, gemma_model_path):
    wb = gemma_workbench(tmp_path / "life", gemma_model_path)
    with wb:
        srv = EndpointServer(wb, ServeConfig(port=0, parallel=1)).start()
        started, lines = threading.Event(), []

        def consume() -> None:
            with httpx.Client(timeout=60) as http, http.stream("POST", srv.url + "/v1/completions",
                                                               json=long_body()) as response:
                for line in response.iter_lines():
                    lines.append(line)
                    started.set()

        reader = threading.Thread(target=consume)
        reader.start()
        assert started.wait(60)
        srv.stop()
        reader.join(60)
        assert not reader.is_alive() and not srv.running
        finals = [json.loads(x[5:])["choices"][0]["finish_reason"] for x in lines
                  if x.startswith("data: {") and '"finish_reason":"' in x]
        assert finals == ["cancelled"] and [x for x in lines if x][-1] == "data: [DONE]"
        for _ in range(2):  # the GUI's Server page starts and stops it at will
            srv.start()
            reply = httpx.post(srv.url + "/v1/completions", json=long_body(False, max_tokens=3), timeout=60)
            assert reply.json()["usage"]["completion_tokens"] == 3
            srv.stop()
            assert not srv.running


def sample(exposition: str, series: str) -> float:
    """One sample's value from a Prometheus text exposition (0 when the series is not there yet)."""
    values = [line.rsplit(" ", 1)[1] for line in exposition.splitlines() if line.startswith(series + " ")]
    return float(values[0]) if values else 0.0


def test_metrics_and_key_metrics_count_requests_and_tokens(server):
    http = httpx.Client(base_url=server.url, timeout=60)
    before = server.state.key_metrics()
    alone_before = sample(http.get("/metrics").text, 'workbench_batch_sequences_bucket{le="1.0",model="tiny:F32"}')
    for n in (3, 5):
        http.post("/v1/completions", json={"model": "tiny:F32", "prompt": "abc", "max_tokens": n, "stream": True})
    http.post("/v1/completions", json={"model": "missing", "prompt": "abc"})
    now = server.state.key_metrics()
    assert now.requests == before.requests + 3 and now.errors == before.errors + 1
    assert now.tokens_per_second > 0 and now.busy_slots == 0 and now.queue_depth == 0
    text = http.get("/metrics").text
    assert 'workbench_requests_total{model="tiny:F32",route="/v1/completions",status="200"}' in text
    assert 'workbench_requests_total{model="missing",route="/v1/completions",status="404"}' in text
    assert "workbench_time_to_first_token_seconds_bucket" in text and "workbench_inter_token_latency" in text
    # the two requests ran one after another: each one's largest decode held only itself
    assert sample(text, 'workbench_batch_sequences_bucket{le="1.0",model="tiny:F32"}') == alone_before + 2
    assert 'workbench_busy_slots{model="tiny:F32"} 0.0' in text
    records = server.state.request_log(2)
    assert [r.completion_tokens for r in records] == [5, 0] and records[0].ttft_seconds is not None
    health = http.get("/health").json()
    assert health["status"] == "ok" and health["models_loaded"] == 1


def test_pieces_that_queued_up_go_out_as_one_chunk(wb):
    """A consumer that lags (slow client, loaded machine) gets one merged piece, then the FinalEvent."""
    import asyncio

    from workbench.engine import FinalEvent, GenerationRequest, LoadOptions, TextEvent
    from workbench.serve.streaming import Stream

    model = wb.library.get("tiny:F32")
    request = GenerationRequest(prompt="abc", max_tokens=12)

    async def consume():
        stream = Stream(started=0.0)
        stream.attach(wb.runtime.generate(model, request, LoadOptions(n_ctx=256), sink=stream.sink))
        assert await asyncio.to_thread(wait_until, lambda: stream._queue.qsize() >= 13)  # 12 pieces + final
        return [event async for event in stream.events()]

    events = asyncio.run(consume())
    assert [type(e) for e in events] == [TextEvent, FinalEvent]
    assert events[1].completion_tokens == 12 and len(events[0].text) >= 12


def test_a_stream_whose_event_loop_closed_cancels_its_generation(wb):
    """A server stopped under a running stream: the engine's next post fails, so decoding stops for it."""
    import asyncio

    from workbench.engine import GenerationRequest, LoadOptions
    from workbench.serve.streaming import Stream, mailbox

    model = wb.library.get("tiny:F32")
    loop = asyncio.new_event_loop()

    async def start() -> Stream:
        stream = Stream(started=0.0)
        request = GenerationRequest(prompt="abc", max_tokens=100_000)  # only the context's end would stop it
        stream.attach(wb.runtime.generate(model, request, LoadOptions(n_ctx=4096), sink=stream.sink))
        return stream

    stream = loop.run_until_complete(start())
    mailbox(loop).post(print, "never printed")  # a burst is pending (a drain scheduled) when the loop closes
    loop.close()
    job = stream.generation._job
    assert wait_until(lambda: job.done)
    assert job.cancelled and job.completion_tokens < 4000


def test_a_failing_delivery_does_not_lose_the_rest_of_its_burst():
    import asyncio

    from workbench.serve.streaming import Mailbox

    async def burst() -> list:
        box, got = Mailbox(asyncio.get_running_loop()), []

        def broken(_):
            raise RuntimeError("bookkeeping failed")

        assert box.post(got.append, 1) and box.post(broken, None) and box.post(got.append, 2)  # one burst
        for _ in range(100):  # loop turns (not a timed wait) for the scheduled drain to run
            if len(got) == 2:
                break
            await asyncio.sleep(0)
        return got

    assert asyncio.run(burst()) == [1, 2]
