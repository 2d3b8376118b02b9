"""What one endpoint instance shares between its routes: the Workbench services, config, metrics, live streams.

`start_chat`/`start_completion` prepare through chat/prepare.py on a worker thread (a first request loads the
model) and return a `Stream`; the state counts requests in flight per model, logs finished ones (never text)
and cancels running streams on `shutdown()` (docs/design.md §7).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from ..chat import prepare as chat
from ..errors import InvalidParameter, WorkbenchError
from .config import ServeConfig
from .metrics import Metrics, RequestRecord
from .streaming import Stream

if TYPE_CHECKING:
    from ..app import Workbench

RATE_WINDOW_SECONDS = 10.0


class ShuttingDown(WorkbenchError):
    http_status = 503
    code = "shutting_down"


@dataclasses.dataclass(frozen=True)
class KeyMetrics:
    """The GUI server panel's numbers "now"."""

    requests: int  # finished requests since start
    in_flight: int
    tokens_per_second: float  # text pieces streamed (≈ tokens, all requests) over the last RATE_WINDOW_SECONDS
    busy_slots: int
    queue_depth: int
    errors: int  # finished with a 4xx/5xx


class ServeState:
    def __init__(self, workbench: Workbench, config: ServeConfig):
        self.wb = workbench
        self.config = config
        self.metrics = Metrics()
        self.metrics.subscribe(workbench.audit.endpoint_request)  # queued to the audit's writer thread
        self.started_at = time.time()
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}  # model label -> requests queued or generating
        self._slots: dict[str, int] = {}  # model label -> n_parallel of its loaded instance
        self._streams: set[Stream] = set()
        # (model sha256 or path, load options, loaded at) -> the preset or model names whose requests used that loaded
        # instance, in first-use order: /api/ps lists these, as Ollama lists the names clients asked for
        self._users: dict[tuple, dict[str, None]] = {}
        # arrival times of streamed text pieces (≈ tokens) for the "now" rate; bounded when nobody reads it
        self._recent: deque[float] = deque(maxlen=100_000)
        self._requests = self._errors = 0
        self.closing = False
        workbench.runtime.max_queue = config.queue_size  # applies to models this endpoint loads

    # ------------------------------------------------------------------ starting generations

    def _options(self) -> dict:
        return {"reproducible": self.config.reproducible, "n_parallel": self.config.parallel,
                "speculative": self.config.speculative}

    def resolve(self, name: str) -> chat.ChatTarget:
        return chat.resolve_target(self.wb, name)

    async def start_chat(self, target: chat.ChatTarget, messages: list[dict], *, parameters: dict,
                         route: str, client: str, started: float, keep_alive: float | None = None,
                         **kwargs) -> tuple[chat.PreparedChat, Stream]:
        """Prepare (chat/prepare.py) and queue a chat; keep_alive (seconds) is set before queueing, as Ollama does."""
        def prepare():
            return chat.prepare_chat(self.wb, target, messages, parameters=parameters, **self._options(), **kwargs)

        return await self._start(prepare, target, route, client, started, keep_alive)

    async def start_completion(self, target: chat.ChatTarget, prompt: str, *, parameters: dict, route: str,
                               client: str, started: float, keep_alive: float | None = None,
                               **kwargs) -> tuple[chat.PreparedChat, Stream]:
        def prepare():
            return chat.prepare_completion(self.wb, target, prompt, parameters=parameters, **self._options(),
                                           **kwargs)

        return await self._start(prepare, target, route, client, started, keep_alive)

    async def _start(self, prepare, target, route, client, started, keep_alive):
        if self.closing:
            raise ShuttingDown("the endpoint is shutting down")
        model = target.name
        # the stream exists before the generation is queued: the engine delivers straight into it
        def finished(s: Stream) -> None:
            self._finished(s, route=route, model=model, client=client)

        stream = Stream(started=started, on_end=finished, on_text=self._recent.append)  # deque.append: atomic

        def submit():
            prepared = self._check_max_tokens(prepare())
            loaded = self.wb.runtime.acquire(prepared.target.model, prepared.load)
            self.note_user(loaded, target)
            self.note_slots(model, loaded.n_parallel)
            if keep_alive is not None:
                self.wb.runtime.set_keep_alive(loaded, keep_alive)
            self._enter(model)  # before submitting, so the gauges never miss a running request
            try:
                return prepared, prepared.generate(self.wb.runtime, sink=stream.sink)
            except BaseException:
                self._leave(model)
                raise

        prepared, generation = await run_in_threadpool(submit)
        stream.attach(generation)
        with self._lock:
            self._streams.add(stream)
            if self.closing:
                stream.cancel()
        return prepared, stream

    def _check_max_tokens(self, prepared: chat.PreparedChat) -> chat.PreparedChat:
        """Refuse a max_tokens over the cap; a request without one is capped (else it runs to the context's end)."""
        limit, cap = prepared.request.max_tokens, self.config.max_tokens_cap
        if limit is not None and limit > cap:
            raise InvalidParameter(f"max_tokens {limit} is over this endpoint's cap of {cap} tokens")
        if limit is None:
            return dataclasses.replace(prepared, request=dataclasses.replace(prepared.request, max_tokens=cap))
        return prepared

    def count_prompt_tokens(self, target: chat.ChatTarget, messages: list[dict], **kwargs) -> int:
        """How many tokens the prompt start_chat would queue for these messages has; blocking (may load)."""
        prepared = chat.prepare_chat(self.wb, target, messages, **self._options(), **kwargs)
        loaded = self.wb.runtime.acquire(prepared.target.model, prepared.load)
        if prepared.request.media:  # image tokens count too: the projector tokenizes (engine/vision.py)
            return loaded.prompt_length(prepared.request)
        # LoadedModel.prompt_tokens's rule, through the guarded tokenize (the model may unload meanwhile)
        tokens = loaded.tokenize(prepared.prompt, add_special=False, parse_special=True)
        bos = loaded.bos_token_id
        return len(tokens) + (loaded.add_bos and bos is not None and (not tokens or tokens[0] != bos))

    def load_model(self, target: chat.ChatTarget):
        """Acquire (load if needed) the target's model with this endpoint's load options; blocking."""
        loaded = self.wb.runtime.acquire(target.model, chat.target_load(self.wb, target, **self._options()))
        self.note_user(loaded, target)
        return loaded

    def note_user(self, loaded, target: chat.ChatTarget) -> None:
        """Remember that `target` (a preset, else a library model) used this loaded instance."""
        name = target.preset.preset_name if target.preset is not None else target.model.name
        key = _instance_key(loaded)
        with self._lock:
            for old in [k for k in self._users if k[:2] == key[:2] and k != key]:
                del self._users[old]  # an earlier instance of the same model and options, unloaded since
            self._users.setdefault(key, {})[name] = None

    def users(self, loaded) -> list[str]:
        """The names whose requests used a loaded instance (a LoadedModel or a runtime.loaded() row)."""
        with self._lock:
            return list(self._users.get(_instance_key(loaded), ()))

    def embed(self, target: chat.ChatTarget, texts: list[str], truncate: bool, route: str, client: str):
        """Pooled embeddings from the target's (shared) loaded model; blocking, recorded in the log."""
        if self.closing:
            raise ShuttingDown("the endpoint is shutting down")
        result = self.load_model(target).embed(texts, truncate=truncate)
        self.record(RequestRecord(time=time.time(), client=client, route=route, model=target.name, status=200,
                                  prompt_tokens=result.total_tokens))
        return result

    # ------------------------------------------------------------------ accounting

    def _enter(self, model: str) -> None:
        with self._lock:
            self._in_flight[model] = self._in_flight.get(model, 0) + 1
        self._update_gauges(model)

    def _leave(self, model: str) -> None:
        with self._lock:
            self._in_flight[model] = max(0, self._in_flight.get(model, 0) - 1)
        self._update_gauges(model)

    def note_slots(self, model: str, n_parallel: int) -> None:
        with self._lock:
            self._slots[model] = n_parallel
        self._update_gauges(model)

    def _update_gauges(self, model: str) -> None:
        with self._lock:
            n, slots = self._in_flight.get(model, 0), self._slots.get(model, self.config.parallel or 1)
        self.metrics.busy_slots.labels(model).set(min(n, slots))
        self.metrics.queue_depth.labels(model).set(max(0, n - slots))

    def _finished(self, stream: Stream, *, route: str, model: str, client: str) -> None:
        with self._lock:
            self._streams.discard(stream)
        self._leave(model)
        final = stream.final or stream.engine_final
        status = 499 if stream.abandoned else 500 if final is not None and final.finish_reason == "error" else 200
        for gap in stream.gaps:
            self.metrics.itl.labels(model).observe(gap)
        self.record(RequestRecord(
            time=time.time(), client=client, route=route, model=model, status=status,
            prompt_tokens=final.prompt_tokens if final else 0,
            completion_tokens=final.completion_tokens if final else 0,
            ttft_seconds=stream.ttft, tokens_per_second=stream.completion_rate,
            finish_reason=final.finish_reason if final else None,
            batch_sequences=final.max_batch_sequences if final else 0,
            drafted_tokens=final.drafted_tokens if final else 0, accepted_tokens=final.accepted_tokens if final else 0))

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests += 1
            self._errors += record.status >= 400
        self.metrics.record(record)

    # ------------------------------------------------------------------ for the GUI

    def key_metrics(self) -> KeyMetrics:
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] > RATE_WINDOW_SECONDS:
                self._recent.popleft()
            tokens = len(self._recent)
            busy = sum(min(n, self._slots.get(m, self.config.parallel or 1)) for m, n in self._in_flight.items())
            in_flight = sum(self._in_flight.values())
            return KeyMetrics(requests=self._requests, in_flight=in_flight,
                              tokens_per_second=tokens / RATE_WINDOW_SECONDS, busy_slots=busy,
                              queue_depth=in_flight - busy, errors=self._errors)

    def request_log(self, n: int = 100) -> list[RequestRecord]:
        return self.metrics.recent(n)

    def shutdown(self) -> None:
        """Refuse new requests and cancel running ones (their streams end at the next scheduler step)."""
        with self._lock:
            self.closing = True
            streams = list(self._streams)
        for stream in streams:
            stream.cancel()


def _instance_key(loaded) -> tuple:
    """A loaded instance: the runtime's key (the model and the resolved load options) and when it loaded."""
    return loaded.sha256 or str(loaded.path), loaded.options, loaded.loaded_at
