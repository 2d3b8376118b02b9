"""`Generation`: the caller's handle on one running request — an iterator of events, cancellable.

Events arrive through a queue the iterator blocks on, or through a `sink` the scheduler thread calls; `cancel()`,
`close()` and garbage collection all cancel at the next step (docs/design.md §4.6).
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import EngineError
from .params import FinalEvent, GenerationRequest, TextEvent, ThinkingBudget, TokenLogprob
from .sampling import Sampler
from .speculative import Drafting
from .textstream import TextStream

if TYPE_CHECKING:
    from .vision import MediaPrompt

Event = TextEvent | FinalEvent
Sink = Callable[[Event], "bool | None"]
_log = logging.getLogger(__name__)


@dataclass(eq=False)
class Job:
    """Scheduler-side state of one request (owned by the scheduler thread once submitted)."""

    request: GenerationRequest
    prompt: list[int]
    sampler: Sampler
    seed: int
    max_tokens: int | None
    events: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    cancelled: bool = False
    submitted_at: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    last_token_at: float | None = None
    cached_tokens: int = 0
    completion_tokens: int = 0
    max_batch_sequences: int = 0  # most sequences in one llama_decode this job took part in (set by the scheduler)
    tokens: list[int] = field(default_factory=list)
    done: bool = False
    sink: Sink | None = None  # called with each event instead of queueing it (docs/design.md §4.6)
    emitted_chars: int = 0
    # (characters decoded before the token, its TokenLogprob) of tokens not yet attached to a TextEvent
    logprob_queue: list = field(default_factory=list)

    forced: deque = field(default_factory=deque)  # tokens the engine writes next instead of sampling
    budget: BudgetWatch | None = None
    drafting: Drafting | None = None  # speculative decoding's state (engine/speculative.py)
    drafted_tokens: int = 0
    accepted_tokens: int = 0
    media: MediaPrompt | None = None  # the prompt's images: placeholders in `prompt`, decoded by vision.py

    def __post_init__(self) -> None:
        self.stream = TextStream(self.request.stop)
        if self.request.thinking_budget is not None:
            self.budget = BudgetWatch(self.request.thinking_budget)
        if self.request.speculation is not None:
            self.drafting = Drafting(self.request.speculation, self.prompt)

    @property
    def awaits_encode(self) -> bool:
        """Its image is being encoded on the projector's thread: no step can do anything for it until then."""
        return self.media is not None and self.media.encoding and not self.cancelled

    def add_logprob(self, entry: TokenLogprob) -> None:
        """Queue a token's entry; call it before the token's bytes go into `stream`."""
        self.logprob_queue.append((self.stream.decoded, entry))

    def emit(self, text: str, *, last: bool = False) -> None:
        self.emitted_chars += len(text)
        entries = self._take_logprobs(last) if self.logprob_queue else ()
        if text or entries:
            self._post(TextEvent(text, entries, self.completion_tokens))

    def _take_logprobs(self, last: bool) -> tuple[TokenLogprob, ...]:
        """The entries of the tokens whose text starts in what has been emitted (a token still held back, or
        one whose bytes end mid-character, waits for the piece that carries its text); at the end every
        remaining one (a token without text of its own), unless a stop string swallowed them."""
        queue = self.logprob_queue
        if last and self.stream.stopped_by is None:
            n = len(queue)
        else:
            n = 0
            while n < len(queue) and queue[n][0] < self.emitted_chars:
                n += 1
        taken = tuple(entry for _, entry in queue[:n])
        del queue[:n]
        return taken

    def _post(self, event: Event) -> None:
        if self.sink is None:
            self.events.put(event)
            return
        try:
            alive = self.sink(event) is not False
        except Exception:  # a broken sink must not take the scheduler thread (and every other request) down
            _log.exception("a generation's event sink failed")
            alive = False
        if not alive:  # the receiver is gone: stop decoding for it at the next step
            self.cancelled = True

    def finish(self, reason: str, error: str | None = None) -> FinalEvent | None:
        """Flush held-back text, free the sampler and post the final event (once; later calls do nothing)."""
        if self.done:
            return None
        self.done = True
        if self.media is not None:
            self.media.free()
        if reason in ("length", "stop") and error is None:
            self.emit(self.stream.flush(), last=True)
        self.sampler.free()
        final = FinalEvent(
            finish_reason=reason,  # type: ignore[arg-type]
            prompt_tokens=len(self.prompt),
            cached_tokens=self.cached_tokens,
            completion_tokens=self.completion_tokens,
            max_batch_sequences=self.max_batch_sequences,
            ttft_seconds=None if self.first_token_at is None else self.first_token_at - self.submitted_at,
            decode_tokens_per_second=self._decode_rate(),
            seed=self.seed,
            error=error,
            stop_sequence=self.stream.stopped_by,
            tokens=tuple(self.tokens),
            drafted_tokens=self.drafted_tokens,
            accepted_tokens=self.accepted_tokens,
        )
        self._post(final)
        return final

    def _decode_rate(self) -> float | None:
        if self.first_token_at is None or self.last_token_at is None or self.completion_tokens < 2:
            return None
        elapsed = self.last_token_at - self.first_token_at
        return (self.completion_tokens - 1) / elapsed if elapsed > 0 else None


class BudgetWatch:
    """Counts a job's thinking tokens against its ThinkingBudget; says when to write the close text."""

    def __init__(self, budget: ThinkingBudget):
        self.budget = budget
        self.state = "open" if budget.open is None else "before"  # before -> open -> closed
        self.count = 0
        self._tail = ""

    @property
    def spent(self) -> bool:
        """The block is open and the budget is already spent (a budget of 0 on a block the prompt opened)."""
        return self.state == "open" and self.count >= self.budget.tokens

    def step(self, text: str) -> bool:
        """After each generated token (its text): True when the engine must write the close text now."""
        if self.state == "closed":
            return False
        self._tail = (self._tail + text)[-64:]
        if self.state == "before":
            if self.budget.open not in self._tail:
                return False
            self.state, self._tail = "open", ""
        elif self.budget.end in self._tail:
            self.state = "closed"
            return False
        else:
            self.count += 1
        if self.count >= self.budget.tokens:
            self.state = "closed"
            return True
        return False


class Generation:
    """Iterate for events (TextEvent…, then one FinalEvent). cancel()/close()/del cancel the request."""

    def __init__(self, job: Job, wake: Callable[[], None]):
        self._job = job
        self._wake = wake
        self.final: FinalEvent | None = None

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        if self.final is not None:
            raise StopIteration
        if self._job.sink is not None:
            raise EngineError("this generation delivers its events to a sink; it cannot be iterated")
        event = self._job.events.get()
        if isinstance(event, FinalEvent):
            self.final = event
        return event

    def cancel(self) -> None:
        """Stop at the next scheduler step; the final event then says "cancelled". Safe from any thread."""
        if not self._job.cancelled and not self._job.done:
            self._job.cancelled = True
            self._wake()

    def close(self) -> None:
        self.cancel()

    def __enter__(self) -> Generation:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if self.final is None:
                self.cancel()
        except Exception:  # interpreter shutdown: nothing left to cancel
            pass

    def collect(self, on_text: Callable[[str], None] | None = None) -> tuple[str, FinalEvent]:
        """Run to the end: (all text, final event)."""
        parts: list[str] = []
        for event in self:
            if isinstance(event, TextEvent):
                parts.append(event.text)
                if on_text is not None:
                    on_text(event.text)
        assert self.final is not None
        return "".join(parts), self.final

    @property
    def seed(self) -> int:
        return self._job.seed

    @property
    def prompt_tokens(self) -> int:
        return len(self._job.prompt)
