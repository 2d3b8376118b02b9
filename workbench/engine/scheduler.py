"""Continuous batching: one thread owns a llama_context with N slots and decodes them together.

Each step decodes one token per generating slot plus prompt chunks up to `n_batch`, then samples every output
row with its slot's own chain; a new request takes the free slot with the longest shared prefix. Scheduling,
prefix reuse (docs/design.md §4.3), reproducible mode (§4.5) and logprobs (§4.6) are explained there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import llama_cpp
import numpy as np

from ..errors import EngineError, QueueFull
from . import native
from .generation import Job
from .scoring import logprob_entries
from .speculative import plan_drafts

_log = logging.getLogger(__name__)


@dataclass(eq=False)
class Slot:
    seq: int
    cache: list[int] = field(default_factory=list)  # tokens whose K/V this sequence holds, in position order
    job: Job | None = None
    prefilled: bool = False
    next_token: int = -1
    row: int = -1
    pending_chunk: int = 0  # prompt tokens added to the batch being decoded
    prompt_cached: int = 0  # leading cache tokens computed as prompt (prefill), not generated one by one
    last_used: float = 0.0
    draft: list[int] = field(default_factory=list)  # tokens drafted after next_token, verified in this step
    guess: bool = False  # the draft is a free one-token guess (speculative.plan_drafts)


_MIN_ROWS_PER_THREAD = 2  # below this, handing rows to the helper thread costs more than it saves


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Scheduler:
    def __init__(self, ctx, vocab: native.Vocab, *, n_slots: int, n_ctx: int, n_batch: int, n_ubatch: int,
                 n_swa: int, reproducible: bool, max_queue: int, name: str = "model", sample_threads: int = 1,
                 draft_model=None, pad_for_speculation: bool = False):
        self.ctx = ctx
        self.vocab = vocab
        self.n_ctx = n_ctx  # per-request limit
        self.n_batch = n_batch
        self.n_ubatch = n_ubatch
        self.reproducible = reproducible
        self.pad = reproducible and pad_for_speculation  # every stream ≥ 2 rows: see _pad
        self.n_swa = n_swa
        self.max_queue = max_queue
        self.slots = [Slot(seq=i) for i in range(n_slots)]
        self.draft_model = draft_model  # a draft_model.DraftModel, for requests that speculate with one
        self._mem = llama_cpp.llama_get_memory(ctx)
        self._batch = native.Batch(n_batch + 2)  # a prompt chunk may exceed its budget by 1 (_chunk_size)
        self._waiting: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._eog: dict[int, bool] = {}
        self.last_active = time.monotonic()
        self.finished = 0  # jobs ended so far (the runtime's keep-alive 0 watches it)
        self.on_idle = None  # called on the scheduler thread when the last job ends
        # Sampling a row over gemma's 262k vocabulary costs ~0.4 ms in C, serially after each decode while the
        # decode threads idle: with several rows, a helper thread samples half of them (ctypes releases the
        # GIL). Each row has its own sampler chain, so the result does not depend on which thread ran it.
        self._sample_pool = ThreadPoolExecutor(1, thread_name_prefix=f"sample-{name}") \
            if sample_threads > 1 and n_slots >= 2 * _MIN_ROWS_PER_THREAD else None
        self._thread = threading.Thread(target=self._run, name=f"engine-{name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ called from any thread

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._closed:
                job.sampler.free()
                raise RuntimeError("the model has been unloaded")
            busy = sum(1 for s in self.slots if s.job is not None)
            if busy + len(self._waiting) >= len(self.slots) + self.max_queue:
                job.sampler.free()
                raise QueueFull(
                    f"{len(self.slots)} requests are running and {len(self._waiting)} are waiting "
                    f"(the queue holds {self.max_queue}): retry later"
                )
            self._waiting.append(job)
            self.last_active = time.monotonic()
            self._cond.notify()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify()

    @property
    def busy(self) -> bool:
        return bool(self._waiting) or any(s.job is not None for s in self.slots)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        if self._sample_pool is not None:
            self._sample_pool.shutdown()
        self._batch.free()

    # ------------------------------------------------------------------ the scheduler thread

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._can_step():
                    self._cond.wait()
                if self._closed:
                    break
                admitted = self._take_admissible()
            try:  # nothing may escape: a dead scheduler thread would leave every caller blocked forever
                for job in admitted:
                    self._admit(job)
                self._reap_cancelled()
                self._step()
            except Exception as exc:  # a bug or a native failure: end the affected requests, keep the thread
                _log.exception("engine step failed")
                self._fail_active(f"internal engine error: {exc}")
            self.last_active = time.monotonic()
            if self.on_idle is not None and not self._has_work():
                self.on_idle()
        self._shutdown()

    def _has_work(self) -> bool:
        return bool(self._waiting) or any(s.job is not None for s in self.slots)

    def _can_step(self) -> bool:
        """Work a step can do now: not a request that only waits for its image's encode (vision.py wakes us)."""
        return bool(self._waiting) or any(s.job is not None and not s.job.awaits_encode for s in self.slots)

    def _take_admissible(self) -> list[Job]:
        free = sum(1 for s in self.slots if s.job is None)
        taken = []
        while self._waiting and len(taken) < free:
            taken.append(self._waiting.popleft())
        for job in [j for j in self._waiting if j.cancelled]:  # a cancelled queued job leaves at once
            self._waiting.remove(job)
            self._finish(job, "cancelled")
        return taken

    def _admit(self, job: Job) -> None:
        if job.cancelled:
            self._finish(job, "cancelled")
            return
        free = [s for s in self.slots if s.job is None]
        # longest common prefix wins; among equals the least recently used slot (keeps other caches warm)
        slot = max(free, key=lambda s: (common_prefix(s.cache, job.prompt), -s.last_used))
        keep = min(common_prefix(slot.cache, job.prompt), len(job.prompt) - 1)  # ≥1 token must be decoded
        if job.media is not None:
            keep = job.media.reusable(keep)
        if self.reproducible:  # reuse only tokens computed as prompt, and prefill ≥ 2 (see _chunk_size)
            keep = max(0, min(keep, slot.prompt_cached, len(job.prompt) - 2))
        keep = self._trim(slot, keep)
        job.cached_tokens = keep
        slot.job, slot.prefilled, slot.row = job, False, -1
        slot.last_used = time.monotonic()
        if job.max_tokens == 0:
            slot.job = None
            self._finish(job, "length")
        elif job.budget is not None and job.budget.spent:  # a budget of 0 on a block the prompt opened
            self._force_close(job)

    def _trim(self, slot: Slot, keep: int) -> int:
        """Drop the slot's cache from `keep` on; returns how many cached tokens really stay."""
        if keep > 0:
            # token `keep` attends to positions [keep - n_swa, keep): with a sliding-window cache those must
            # still be there (a ring cache overwrites the oldest first, so pos_min tells)
            pos_min = llama_cpp.llama_memory_seq_pos_min(self._mem, slot.seq)
            if pos_min < 0 or pos_min > (max(0, keep - self.n_swa) if self.n_swa > 0 else 0):
                keep = 0
        if 0 < keep < len(slot.cache) and not llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, keep, -1):
            keep = 0  # recurrent/hybrid memory cannot drop a tail
        if keep == 0:
            llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, -1, -1)
        del slot.cache[keep:]
        slot.prompt_cached = min(slot.prompt_cached, keep)
        return keep

    def _reap_cancelled(self) -> None:
        for slot in self.slots:
            if slot.job is not None and slot.job.cancelled:
                job, slot.job = slot.job, None
                self._finish(job, "cancelled")

    def _step(self) -> None:
        generating = [s for s in self.slots if s.job is not None and s.prefilled]
        pending = sorted((s for s in self.slots if s.job is not None and not s.prefilled and not s.job.awaits_encode),
                         key=lambda s: s.job.submitted_at)
        draft_rows = plan_drafts(generating, n_ctx=self.n_ctx, n_batch=self.n_batch, draft_model=self.draft_model,
                                 free_row=self.pad)
        if not self.reproducible:  # everything in one decode
            self._round(generating, pending, self.n_batch - len(generating) - draft_rows)
            return
        # reproducible: decode tokens alone (one row per stream), then ONE prompt chunk of ≥ 2 rows
        if generating:
            self._round(generating, [], 0)
        if pending:
            self._round([], pending[:1], min(self.n_batch, self.n_ubatch))

    def _round(self, generating: list[Slot], pending: list[Slot], budget: int) -> None:
        """One llama_decode: a token for each generating slot, then prompt chunks within `budget`."""
        batch = self._batch
        batch.clear()
        rows: list[Slot] = []  # slots with an output row to sample after the decode
        width = max([2 if self.pad else 1, *(1 + len(s.draft) for s in generating)])
        for slot in generating:
            slot.row = batch.add(slot.next_token, len(slot.cache), slot.seq, True)
            for i, token in enumerate(slot.draft, start=len(slot.cache) + 1):  # verified in the same decode
                batch.add(token, i, slot.seq, True)
            if self.pad:  # every stream the same rows, ≥ 2
                self._pad(slot, width, outputs=len(generating) == 1 and not slot.draft)
            rows.append(slot)
        chunked: list[Slot] = []
        for slot in pending:
            if budget <= 0:
                break
            try:
                budget -= self._add_prompt_chunk(slot, budget, rows)
            except EngineError as exc:  # its image failed to encode or decode: only this request ends
                self._fail_slots([slot], str(exc))
                continue
            if slot.pending_chunk:  # (none while its image's encode has just started)
                chunked.append(slot)
        if batch.n == 0 and not chunked:
            return
        try:
            if batch.n:  # (a step that only decoded an image piece has no token batch)
                batch.decode(self.ctx)
        except native.DecodeError as exc:
            self._fail_slots(generating + chunked, str(exc))
            return
        self._advance(generating, chunked)
        for slot, drawn in zip(rows, self._draw_all(rows), strict=True):
            if slot.draft:
                self._verify(slot, drawn)
            else:
                self._sample(slot, drawn)
                if self.pad and slot in generating:
                    llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, len(slot.cache), -1)  # padding (_pad)

    def _advance(self, generating: list[Slot], chunked: list[Slot]) -> None:
        """After a decode: each slot's cache holds what it decoded; batch sharing is recorded per request."""
        shared = len(generating) + len(chunked)  # sequences in this decode: one per slot
        for slot in generating:
            slot.cache.append(slot.next_token)
            slot.job.max_batch_sequences = max(slot.job.max_batch_sequences, shared)
        for slot in chunked:
            slot.job.max_batch_sequences = max(slot.job.max_batch_sequences, shared)
            start = len(slot.cache)
            slot.cache.extend(slot.job.prompt[start : start + slot.pending_chunk])
            slot.pending_chunk = 0
            slot.prefilled = len(slot.cache) == len(slot.job.prompt)
            if slot.prefilled:
                slot.prompt_cached = len(slot.cache)

    def _pad(self, slot: Slot, width: int, outputs: bool) -> None:
        """Reproducible mode on an instance that may speculate (LoadOptions.speculative): fill the slot's rows up
        to `width` with throw-away tokens (their cells are dropped after the step). ggml-cpu computes attention
        for one query row of a stream with another kernel than for several (docs/design.md §4.5, 3), and the
        output projection for one output row with another than for several (so a lone stream's filler asks for
        its logits too): a token decoded alone and one verified beside drafts would round differently. With ≥ 2
        rows always, each token's logits are the same whatever was drafted, and speculation never changes the
        output. Instances that never speculate decode one row per stream and skip this cost (§4.12)."""
        end = min(len(slot.cache) + width, self.n_ctx)
        for pos in range(len(slot.cache) + 1 + len(slot.draft), end):
            self._batch.add(slot.next_token, pos, slot.seq, outputs)

    def _verify(self, slot: Slot, drawn: int | Exception) -> None:
        """Sample the slot's rows in order with its own chain, keeping drafted tokens while the sample agrees.

        Each kept token's sample is the one plain decoding would have drawn at that position (same chain, same
        state, same logits), so greedy and seeded output are unchanged; a draft is a deterministic proposal, so
        "accept iff the target's sample equals it" keeps the target's distribution exactly. The first
        disagreeing sample is the next token; the rejected drafts' cells leave the KV cache.
        """
        draft, slot.draft, job = slot.draft, [], slot.job
        accepted = 0
        for proposed in draft:
            self._sample(slot, drawn)
            if slot.job is not job or job.forced or slot.next_token != proposed:
                break
            slot.cache.append(proposed)
            accepted += 1
            slot.row += 1
            drawn = self._draw(slot)
        else:  # the whole draft agreed: the last row's sample is a token gained for free
            self._sample(slot, drawn)
        if accepted < len(draft) or self.pad:  # rejected drafts, padding (_pad)
            llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, len(slot.cache), -1)
        job.drafted_tokens += len(draft)
        job.accepted_tokens += accepted
        if not slot.guess:
            job.drafting.control.record(len(draft), accepted)

    def _chunk_size(self, remaining: int, budget: int) -> int:
        take = min(remaining, budget)
        if self.reproducible and remaining - take == 1:
            # never leave a 1-token piece: one row per stream takes another attention kernel (vec_dot_f16)
            # than ≥ 2 rows (tinyBLAS), and prompt tokens must always be computed the same way
            take = take - 1 if take > 2 else remaining
        return take

    def _add_prompt_chunk(self, slot: Slot, budget: int, rows: list[Slot]) -> int:
        prompt, start, media = slot.job.prompt, len(slot.cache), slot.job.media
        if media is not None and media.span_at(start) is not None:  # image rows: a decode of their own (vision.py)
            slot.pending_chunk = media.prefill(self.ctx, slot.seq, start, budget, self._chunk_size)
            return slot.pending_chunk
        take = self._chunk_size(len(prompt) - start if media is None else media.text_run(start), budget)
        batch = self._batch
        for pos in range(start, start + take):
            row = batch.add(prompt[pos], pos, slot.seq, pos == len(prompt) - 1)
        slot.pending_chunk = take
        if start + take == len(prompt):
            slot.row = row
            rows.append(slot)
        return take

    def _is_eog(self, token: int) -> bool:
        flag = self._eog.get(token)
        if flag is None:
            flag = self._eog[token] = self.vocab.is_eog(token)
        return flag

    def _draw_all(self, rows: list[Slot]) -> list[int | Exception]:
        """Each row's next token (or the exception its sampler raised); half the rows on the helper thread."""
        if self._sample_pool is None or len(rows) < 2 * _MIN_ROWS_PER_THREAD:
            return [self._draw(slot) for slot in rows]
        # llama_get_logits_ith first applies pending output-row swaps (llama_context::output_reorder), which is
        # not thread-safe: do it once here, so the samplers' own calls on both threads only read
        llama_cpp.llama_get_logits_ith(self.ctx, rows[0].row)
        half = len(rows) // 2
        helper = self._sample_pool.submit(lambda: [self._draw(slot) for slot in rows[half:]])
        mine = [self._draw(slot) for slot in rows[:half]]
        return mine + helper.result()

    def _draw(self, slot: Slot) -> int | Exception:
        if slot.job.forced:  # text the engine writes itself (a thinking block closed at its budget)
            return slot.job.forced.popleft()
        try:
            return slot.job.sampler.sample(self.ctx, slot.row)
        except Exception as exc:  # this request's sampler failed (e.g. a grammar dead end): end only this one
            return exc

    def _sample(self, slot: Slot, token: int | Exception) -> None:
        job = slot.job
        if isinstance(token, Exception):
            _log.warning("sampling failed: %s", token)
            return self._release(slot, "error", str(token))
        now = time.perf_counter()
        if job.first_token_at is None:
            job.first_token_at = now
        job.last_token_at = now
        if job.cancelled:
            return self._release(slot, "cancelled")
        if self._is_eog(token):
            return self._release(slot, "stop")
        job.completion_tokens += 1
        job.tokens.append(token)
        if job.request.logprobs is not None:  # only for jobs that asked: the others pay one attribute check
            job.add_logprob(self._logprob(slot.row, token, job.request.logprobs))
        piece = self.vocab.piece(token, job.request.render_special)
        job.emit(job.stream.feed(piece))
        if job.budget is not None and job.budget.step(piece.decode("utf-8", "ignore")):
            self._force_close(job)
        if job.stream.stopped_by is not None:
            return self._release(slot, "stop")
        if job.max_tokens is not None and job.completion_tokens >= job.max_tokens:
            return self._release(slot, "length")
        if len(slot.cache) >= self.n_ctx:  # no room to decode this token: the context is full
            return self._release(slot, "length")
        slot.next_token = token

    def _force_close(self, job: Job) -> None:
        """The thinking budget is spent: the next tokens are the close text, then the model answers."""
        close = job.request.thinking_budget.close
        job.forced.extend(self.vocab.tokenize(close, add_special=False, parse_special=True))

    def _logprob(self, row: int, token: int, top_n: int):
        """The drawn token's entry from its row's raw logits (still those of this decode: read before the next)."""
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, row), shape=(1, self.vocab.n_tokens))
        return logprob_entries(self.vocab, logits, (token,), top_n)[0]

    def _release(self, slot: Slot, reason: str, error: str | None = None) -> None:
        job, slot.job = slot.job, None
        slot.prefilled, slot.pending_chunk = False, 0
        slot.last_used = time.monotonic()
        self._finish(job, reason, error)

    def _finish(self, job: Job, reason: str, error: str | None = None) -> None:
        job.finish(reason, error)
        self.finished += 1

    def _fail_slots(self, slots, message: str) -> None:
        for slot in list(slots):
            llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, -1, -1)  # its cache state is unknown now
            if self.draft_model is not None:
                self.draft_model.forget(slot.seq)
            slot.cache.clear()
            slot.prompt_cached = 0
            if slot.job is not None:
                self._release(slot, "error", message)

    def _fail_active(self, message: str) -> None:
        self._fail_slots([s for s in self.slots if s.job is not None], message)

    def _shutdown(self) -> None:
        with self._cond:
            waiting, self._waiting = list(self._waiting), deque()
        for job in waiting:
            self._finish(job, "cancelled", "the model was unloaded")
        for slot in self.slots:
            if slot.job is not None:
                self._release(slot, "cancelled", "the model was unloaded")
