"""The bridge from the engine's scheduler thread to asyncio, with timing and cancellation.

A `Stream` hands the engine its `sink`; the loop's `Mailbox` delivers all of one scheduler step's events in one
`call_soon_threadsafe`, so no thread blocks per stream (docs/design.md §7.2). A Stream times TTFT and
inter-token gaps, counts as in flight until its FinalEvent, and cancels when its consumer stops early.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable

from ..engine import FinalEvent, TextEvent

_log = logging.getLogger(__name__)


class Mailbox:
    """Callbacks posted from other threads, run on one event loop in bursts: a post while a burst is pending
    joins it instead of waking the loop again."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = weakref.ref(loop)  # weak: the registry below maps loop -> mailbox, a strong ref would leak
        self._items: list[tuple[Callable, object]] = []
        self._lock = threading.Lock()
        self._closed = False

    def post(self, callback: Callable, arg) -> bool:
        """Run callback(arg) on the loop soon; False if the loop is closed (nothing will run)."""
        loop = self._loop()
        with self._lock:
            # checked on every post, not only when scheduling: a drain scheduled just before the loop closed
            # would otherwise make every later post join a burst that never runs
            if self._closed or loop is None or loop.is_closed():
                return self._close()
            self._items.append((callback, arg))
            if len(self._items) > 1:  # a drain is already scheduled and has not started yet
                return True
        try:
            loop.call_soon_threadsafe(self._drain)
            return True
        except RuntimeError:  # the event loop closed in between
            with self._lock:
                return self._close()

    def _close(self) -> bool:
        self._closed = True
        self._items.clear()
        return False

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        for callback, arg in items:
            try:
                callback(arg)
            except Exception:  # one stream's failing bookkeeping must not lose the other streams' events
                _log.exception("delivering an engine event failed")


_mailboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Mailbox] = weakref.WeakKeyDictionary()


def mailbox(loop: asyncio.AbstractEventLoop) -> Mailbox:
    """The loop's mailbox (one per loop, shared by all its streams; only the loop's own thread calls this)."""
    box = _mailboxes.get(loop)
    if box is None:
        box = _mailboxes[loop] = Mailbox(loop)
    return box


class Stream:
    """Async iteration over one generation's events; `final` holds the FinalEvent once the consumer saw it.

    Create it on the loop, queue the generation with `sink=stream.sink`, then `attach(generation)`.
    """

    def __init__(self, *, started: float, on_end=None, on_text=None):
        self.generation = None  # the engine Generation, once attached (the handle that cancels)
        self.started = started  # time.perf_counter() when the HTTP request arrived
        self.final: FinalEvent | None = None  # as the consumer saw it
        self.engine_final: FinalEvent | None = None  # as the engine posted it (also when nobody read it)
        self.ttft: float | None = None
        self.gaps: list[float] = []  # seconds between consecutive text events
        self.abandoned = False  # the consumer stopped before the end (client gone, shutdown)
        self._on_end = on_end  # on_end(stream), once, when both the engine and the consumer are done
        self._on_text = on_text  # on_text(time.monotonic()) per text piece (the "tokens/s now" meter)
        self._done: set[str] = set()  # "engine" (FinalEvent arrived: slot free) and "consumer"
        self._mailbox = mailbox(asyncio.get_running_loop())
        self._queue: asyncio.Queue = asyncio.Queue()
        self._cancel_when_attached = False
        self.logprobs: list = []  # engine TokenLogprob entries gathered by collect()

    def sink(self, event) -> bool:
        """The engine's sink: runs on the scheduler thread, so it only posts."""
        return self._mailbox.post(self._deliver, event)

    def _deliver(self, event) -> None:  # on the loop
        self._queue.put_nowait(event)
        if isinstance(event, FinalEvent):
            self.engine_final = event
            self._half_done("engine")

    def attach(self, generation) -> None:
        self.generation = generation
        if self._cancel_when_attached:
            generation.cancel()

    def cancel(self) -> None:
        """Stop the generation (its FinalEvent still arrives, saying "cancelled")."""
        if self.generation is not None:
            self.generation.cancel()
        else:
            self._cancel_when_attached = True

    async def events(self) -> AsyncIterator[TextEvent | FinalEvent]:
        """Text pieces, then the FinalEvent. Pieces that queued up while the consumer was busy (a slow client,
        a loaded machine) come merged into one, so a lagging stream costs one chunk, not one per token."""
        last = None
        try:
            while True:
                event = await self._queue.get()
                if isinstance(event, TextEvent) and not self._queue.empty():
                    event, pending = self._merge(event)
                    if pending is not None:  # the FinalEvent was queued behind the text
                        self._queue.put_nowait(pending)  # an unbounded queue: it goes to the back, after nothing
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
                self.cancel()
            self._half_done("consumer")

    def _merge(self, first: TextEvent):
        """first + every TextEvent already queued (text and logprob entries, in order); returns (merged, the
        non-text item that stopped it)."""
        parts, entries, tokens = [first.text], list(first.logprobs), first.completion_tokens
        stopped = None
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if not isinstance(item, TextEvent):
                stopped = item
                break
            parts.append(item.text)
            entries += item.logprobs
            tokens = item.completion_tokens
        return TextEvent("".join(parts), tuple(entries), tokens), stopped

    def close(self) -> None:
        """For a stream that will never be iterated (the route failed before responding)."""
        self.abandoned = True
        self.cancel()
        self._half_done("consumer")

    def _half_done(self, side: str) -> None:  # on the loop only: no lock needed
        done = side not in self._done and len(self._done) == 1
        self._done.add(side)
        if done and self._on_end is not None:
            self._on_end(self)

    async def collect(self) -> tuple[str, FinalEvent]:
        """All text and the final event (non-streaming responses); logprob entries, if asked, in `logprobs`."""
        parts = []
        async for event in self.events():
            if isinstance(event, TextEvent):
                parts.append(event.text)
                self.logprobs += event.logprobs
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


async def watch_disconnect(request, stream: Stream) -> None:
    """For non-streaming responses: cancel the generation when the client goes away while we wait."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            stream.cancel()
            return


async def collect_watching(request, stream: Stream) -> tuple[str, FinalEvent]:
    """`stream.collect()`, cancelled (slot freed) if the client disconnects first."""
    watcher = asyncio.ensure_future(watch_disconnect(request, stream))
    try:
        return await stream.collect()
    finally:
        watcher.cancel()
