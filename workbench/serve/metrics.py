"""Prometheus metrics and the request log of one endpoint instance.

Each app gets its own `CollectorRegistry` (no global state), so the GUI can start and stop the endpoint
repeatedly and tests can run several apps in one process. The request log is a bounded in-memory ring
(time, client, route, model, tokens, TTFT, rate, status, batch) — never prompt or completion text.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class RequestRecord:
    time: float
    client: str
    route: str
    model: str
    status: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_seconds: float | None = None
    tokens_per_second: float | None = None
    finish_reason: str | None = None
    batch_sequences: int = 0  # the most requests in one llama_decode this one took part in (0: none decoded)
    drafted_tokens: int = 0  # speculative decoding: drafted and verified …
    accepted_tokens: int = 0  # … and kept (accepted / drafted = the acceptance rate)


class Metrics:
    def __init__(self, log_size: int = 1000):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("workbench_requests", "HTTP requests", ["route", "model", "status"], registry=r)
        self.prompt_tokens = Counter("workbench_prompt_tokens", "Prompt tokens processed", ["model"], registry=r)
        self.completion_tokens = Counter("workbench_completion_tokens", "Tokens generated", ["model"], registry=r)
        self.ttft = Histogram("workbench_time_to_first_token_seconds", "Time to first token", ["model"],
                              buckets=LATENCY_BUCKETS, registry=r)
        self.itl = Histogram("workbench_inter_token_latency_seconds", "Time between streamed tokens", ["model"],
                             buckets=LATENCY_BUCKETS, registry=r)
        self.batch = Histogram("workbench_batch_sequences", "Most requests in one decode step, per request",
                               ["model"], buckets=BATCH_BUCKETS, registry=r)
        self.drafted = Counter("workbench_draft_tokens", "Speculative decoding: tokens drafted and verified",
                               ["model"], registry=r)
        self.accepted = Counter("workbench_draft_accepted_tokens", "Speculative decoding: drafted tokens kept",
                                ["model"], registry=r)
        self.busy_slots = Gauge("workbench_busy_slots", "Slots generating", ["model"], registry=r)
        self.queue_depth = Gauge("workbench_queue_depth", "Requests waiting for a slot", ["model"], registry=r)
        self._log: deque[RequestRecord] = deque(maxlen=log_size)
        self._lock = threading.Lock()
        self._listeners: list = []

    def record(self, record: RequestRecord) -> None:
        self.requests.labels(record.route, record.model, str(record.status)).inc()
        if record.prompt_tokens:
            self.prompt_tokens.labels(record.model).inc(record.prompt_tokens)
        if record.completion_tokens:
            self.completion_tokens.labels(record.model).inc(record.completion_tokens)
        if record.ttft_seconds is not None:
            self.ttft.labels(record.model).observe(record.ttft_seconds)
        if record.batch_sequences:
            self.batch.labels(record.model).observe(record.batch_sequences)
        if record.drafted_tokens:
            self.drafted.labels(record.model).inc(record.drafted_tokens)
            self.accepted.labels(record.model).inc(record.accepted_tokens)
        with self._lock:
            self._log.append(record)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(record)

    def subscribe(self, listener) -> None:
        """Call listener(record) for every new record (the GUI's server panel, the audit trail)."""
        with self._lock:
            self._listeners.append(listener)

    def recent(self, n: int = 100) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)[-n:]

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def now() -> float:
    return time.time()
