"""The bridge from the engine's blocking `Generation` iterator to asyncio, with timing and cancellation.

A `Generation` blocks on a queue that the scheduler thread fills. Each stream gets one small pump thread that
iterates it and hands events to the event loop with `call_soon_threadsafe` (one loop wake-up per event, no
executor round trip per token: measured in tests/benchmarks/bench_serve.py). The loop never blocks.

`Stream` is what the routes iterate: it times the first token and the gaps between text events (for the TTFT
and inter-token-latency histograms), counts the request as in flight until its FinalEvent arrives (the
scheduler frees the slot *before* posting that event, so "in flight" never under-counts busy slots), and
cancels the generation when the consumer stops early — a client disconnect, a server shutdown, an error.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

from ..engine import FinalEvent, TextEvent


class Stream:
    """Async iteration over one Generation; `final` holds the FinalEvent once it has arrived."""

    def __init__(self, generation, *, started: float, on_end=None, on_text=None):
        self.generation = generation
        self.started = started  # time.perf_counter() when the HTTP request arrived
        self.final: FinalEvent | None = None
        self.ttft: float | None = None
        self.gaps: list[float] = []  # seconds between consecutive text events
        self.abandoned = False  # the consumer stopped before the end (client gone, shutdown)
        self._on_end = on_end  # on_end(stream), once, when both the engine and the consumer are done
        self._on_text = on_text  # on_text(time.monotonic()) per text piece (the "tokens/s now" meter)
        self._done: set[str] = set()  # "pump" (FinalEvent posted: slot free) and "consumer"
        self._lock = threading.Lock()
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue = asyncio.Queue()
        # started at once, not on first iteration: the request is queued in the engine already
        threading.Thread(target=self._pump, name="endpoint-stream", daemon=True).start()

    async def events(self) -> AsyncIterator[TextEvent | FinalEvent]:
        """Text pieces, then the FinalEvent. Pieces that queued up while the consumer was busy (a slow client,
        a loaded machine) come merged into one, so a lagging stream costs one chunk, not one per token."""
        last = None
        try:
            while True:
                event = await self._queue.get()
                if isinstance(event, TextEvent) and not self._queue.empty():
                    event, pending = self._merge(event)
                    if pending is not None:  # a FinalEvent or an error was queued behind the text
                        self._queue.put_nowait(pending)  # an unbounded queue: it goes to the back, after nothing
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event, FinalEvent):
                    self.final = event
                    yield event
                    return
                now = time.perf_counter()
                if self._on_text is not None:
                    self._on_text(time.monotonic())
                if self.ttft is None:
                    self.ttft = now - self.started
                elif last is not None:
                    self.gaps.append(now - last)
                last = now
                yield event
        finally:
            if self.final is None:  # the consumer left early: stop decoding and free the slot
                self.abandoned = True
                self.generation.cancel()
            self._half_done("consumer")

    def _merge(self, first: TextEvent):
        """first + every TextEvent already queued; returns (merged, the non-text item that stopped it)."""
        parts = [first.text]
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if not isinstance(item, TextEvent):
                return TextEvent("".join(parts)), item
            parts.append(item.text)
        return TextEvent("".join(parts)), None

    def close(self) -> None:
        """For a stream that will never be iterated (the route failed before responding)."""
        self.abandoned = True
        self.generation.cancel()
        self._half_done("consumer")

    def _pump(self) -> None:
        loop, queue = self._loop, self._queue
        try:
            for event in self.generation:
                if not _post(loop, queue.put_nowait, event):
                    self.generation.cancel()  # the loop is gone (server stopped): nobody will read the rest
        except BaseException as exc:  # never lose an error on a thread nobody joins
            _post(loop, queue.put_nowait, exc)
        finally:  # the FinalEvent has been posted: the scheduler has already released the slot
            if not _post(loop, self._half_done, "pump"):
                self._half_done("pump")

    def _half_done(self, side: str) -> None:
        with self._lock:
            done = side not in self._done and len(self._done) == 1
            self._done.add(side)
        if done and self._on_end is not None:
            self._on_end(self)

    async def collect(self) -> tuple[str, FinalEvent]:
        """All text and the final event (non-streaming responses)."""
        parts = []
        async for event in self.events():
            if isinstance(event, TextEvent):
                parts.append(event.text)
        assert self.final is not None
        return "".join(parts), self.final

    @property
    def completion_rate(self) -> float | None:
        """Tokens per second from the first token to the last, as the client saw them."""
        final = self.final
        if final is None or self.ttft is None or final.completion_tokens < 2 or not self.gaps:
            return final.decode_tokens_per_second if final is not None else None
        span = sum(self.gaps)
        return (final.completion_tokens - 1) / span if span > 0 else None


def _post(loop: asyncio.AbstractEventLoop, callback, *args) -> bool:
    try:
        loop.call_soon_threadsafe(callback, *args)
        return True
    except RuntimeError:  # the event loop is closed
        return False


async def watch_disconnect(request, stream: Stream) -> None:
    """For non-streaming responses: cancel the generation when the client goes away while we wait."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            stream.generation.cancel()
            return


async def collect_watching(request, stream: Stream) -> tuple[str, FinalEvent]:
    """`stream.collect()`, cancelled (slot freed) if the client disconnects first."""
    watcher = asyncio.ensure_future(watch_disconnect(request, stream))
    try:
        return await stream.collect()
    finally:
        watcher.cancel()
