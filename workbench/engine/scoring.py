"""Scoring contexts: perplexity of one model over a token sequence, a reference's compacted distributions, and a
candidate's per-position figures against them — windowed as `llama-perplexity --kl-divergence` does, on contexts
of their own with batch sizes fixed by the vocabulary (docs/design.md §4.8).
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass

import llama_cpp
import numpy as np

from ..errors import ContextLengthExceeded, InvalidParameter, ModelLoadError
from ..tasks import CancelToken, ProgressCallback, ProgressMeter, check, no_progress
from .divergence import Divergent, PositionFigures, ReferenceRows, WorstPositions, against, compact
from .native import Batch, Vocab
from .params import TokenLogprob

DEFAULT_WINDOW = 512
MIN_WINDOW = 4
LOGITS_BUDGET_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ModelScore:
    """One model over the scored positions: how many, mean NLL (nats/token) and perplexity = exp(nll_mean)."""

    tokens_scored: int
    nll_mean: float
    perplexity: float


@dataclass(frozen=True)
class Plan:
    """How a token sequence is cut: `windows` windows of `window` tokens, scoring positions first..window-2."""

    window: int
    windows: int
    batch: int
    n_vocab: int = 0

    @property
    def first(self) -> int:
        return self.window // 2

    @property
    def per_window(self) -> int:
        return self.window - 1 - self.first


def plan(n_tokens: int, window: int, n_ctx_train: int, n_vocab: int) -> Plan:
    """The windows for `n_tokens` tokens; InvalidParameter when there is nothing to score."""
    if not isinstance(window, int) or window < MIN_WINDOW:
        raise InvalidParameter(f"the scoring window must be at least {MIN_WINDOW} tokens, got {window!r}")
    window = min(window, n_ctx_train) if n_ctx_train > 0 else window
    window = min(window, n_tokens)  # a short text is one window of its own length
    if n_tokens < 3 or window - 1 - window // 2 < 1:
        raise InvalidParameter(f"the text is too short to score: {n_tokens} token(s); perplexity needs at "
                               "least 3 (one token is scored after half a window of context)")
    batch = max(1, min(window, LOGITS_BUDGET_BYTES // (4 * n_vocab)))
    return Plan(window=window, windows=n_tokens // window, batch=batch, n_vocab=n_vocab)


class _Context:
    """A scoring context on a borrowed llama_model (and its LoRA adapter): n_ctx = window, ubatch = B."""

    def __init__(self, model, lora, scale: float, threads: int | None, plan_: Plan):
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = plan_.window
        params.n_batch = params.n_ubatch = plan_.batch
        params.n_seq_max = 1
        params.no_perf = True
        if threads:
            params.n_threads = params.n_threads_batch = threads
        self.ctx = llama_cpp.llama_init_from_model(model, params)
        if not self.ctx:
            raise ModelLoadError(f"llama.cpp could not create a scoring context of {plan_.window} tokens "
                                 "(not enough memory?): try a smaller window")
        if lora and llama_cpp.llama_set_adapters_lora(
                self.ctx, (llama_cpp.llama_adapter_lora_p_ctypes * 1)(lora), 1, (ctypes.c_float * 1)(scale)):
            self.close()
            raise ModelLoadError("the model's LoRA adapter could not be attached to the scoring context")
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
        self.batch = Batch(plan_.batch)

    def clear(self) -> None:
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.ctx), True)

    def decode(self, tokens: Sequence[int], start: int, outputs: range) -> np.ndarray | None:
        """Decode `tokens` at positions start, start+1, …; the logits rows of the positions in `outputs` (a view,
        valid until this context's next decode), None when the batch has none of them."""
        batch = self.batch
        batch.clear()
        for pos, token in enumerate(tokens, start):
            batch.add(token, pos, 0, pos in outputs)
        batch.decode(self.ctx)
        n_out = len(range(max(start, outputs.start), min(start + len(tokens), outputs.stop)))
        if n_out <= 0:
            return None
        pointer = llama_cpp.llama_get_logits(self.ctx)
        return np.ctypeslib.as_array(pointer, shape=(n_out, self.n_vocab))

    def close(self) -> None:
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None
        if getattr(self, "batch", None) is not None:
            self.batch.free()
            self.batch = None


@dataclass
class _Dist:
    """One batch of next-token distributions: shifted logits s = x − max (float32), e = exp(s), Z = Σ e (float64)."""

    shifted: np.ndarray
    exp: np.ndarray
    total: np.ndarray  # Σ exp(shifted), float64, per row

    @classmethod
    def of(cls, logits: np.ndarray) -> _Dist:
        shifted = logits - logits.max(axis=1, keepdims=True)  # a new array: the logits view may be reused
        exp = np.exp(shifted)
        return cls(shifted, exp, exp.sum(axis=1, dtype=np.float64))

    def nll(self, targets: np.ndarray) -> np.ndarray:
        picked = self.shifted[np.arange(len(targets)), targets].astype(np.float64)
        return np.log(self.total) - picked


def check_tokens(model, tokens: Sequence[int]) -> list[int]:
    tokens = [int(t) for t in tokens]
    bad = [t for t in tokens if not 0 <= t < model.n_vocab]
    if bad:
        raise InvalidParameter(f"token {bad[0]} is outside the vocabulary ({model.n_vocab})")
    return tokens


def plan_for(model, n_tokens: int, window: int = DEFAULT_WINDOW) -> Plan:
    return plan(n_tokens, window, model.n_ctx_train, model.n_vocab)


def score_one(model, tokens: Sequence[int], *, window: int = DEFAULT_WINDOW,
              on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> ModelScore:
    """Perplexity of `tokens` on `model` (float32 log-softmax, float64 sums). InvalidParameter for too few
    tokens, a bad window or a token outside the vocabulary; Cancelled (checked per batch); EngineError when the
    model was unloaded. Progress: unit "windows"."""
    tokens = check_tokens(model, tokens)
    cut = plan_for(model, len(tokens), window)
    nll: list[np.ndarray] = []
    _each_batch(model, tokens, cut, lambda _w, _r, logits, targets: nll.append(_Dist.of(logits).nll(targets)),
                on_progress, cancel)
    values = np.concatenate(nll)
    mean = math.fsum(values.tolist()) / len(values)
    return ModelScore(tokens_scored=len(values), nll_mean=mean, perplexity=math.exp(mean))


def compute_reference(model, tokens: Sequence[int], *, sink: Callable[[int, ReferenceRows], None],
                      window: int = DEFAULT_WINDOW, on_progress: ProgressCallback = no_progress,
                      cancel: CancelToken | None = None) -> Plan:
    """The reference's compacted distributions, one `sink(window_index, rows)` per window; returns the plan.
    Errors as `score_one`."""
    tokens = check_tokens(model, tokens)
    cut = plan_for(model, len(tokens), window)
    parts: list[ReferenceRows] = []

    def handle(index: int, row: int, logits: np.ndarray, targets: np.ndarray) -> None:
        parts.append(compact(logits, targets))
        if row + len(logits) == cut.per_window:  # the window's last scored position
            sink(index, ReferenceRows.concat(parts))
            parts.clear()

    _each_batch(model, tokens, cut, handle, on_progress, cancel)
    return cut


@dataclass(frozen=True)
class CandidateScores:
    """A candidate against a reference: per-position figures in text order, and the most divergent positions."""

    figures: PositionFigures
    worst: tuple[Divergent, ...]


def score_against(model, tokens: Sequence[int], cut: Plan, reference: Callable[[int], ReferenceRows], *,
                  worst: int = 10, on_progress: ProgressCallback = no_progress,
                  cancel: CancelToken | None = None) -> CandidateScores:
    """Score the reference's `tokens` on `model` with the reference's plan (`reference(i)`: window i's rows).
    InvalidParameter when the model's vocabulary size differs or its training context is under the window."""
    tokens = check_tokens(model, tokens)
    if model.n_vocab != cut.n_vocab:
        raise InvalidParameter(f"{model.name} has a vocabulary of {model.n_vocab} tokens and the reference one of "
                               f"{cut.n_vocab}: KL divergence needs the same vocabulary (quantizations of one model)")
    if 0 < model.n_ctx_train < cut.window:
        raise InvalidParameter(f"{model.name} was trained on {model.n_ctx_train} tokens of context: the "
                               f"reference's window of {cut.window} does not fit it")
    parts: list[PositionFigures] = []
    tracker = WorstPositions(worst)
    current: dict[int, ReferenceRows] = {}

    def handle(index: int, row: int, logits: np.ndarray, targets: np.ndarray) -> None:
        if index not in current:  # one window's rows in memory at a time
            current.clear()
            current[index] = reference(index)
        rows = current[index].slice(row, row + len(logits))
        figures, norm = against(rows, logits, targets)
        parts.append(figures)
        tracker.offer(index * cut.window + cut.first + row + 1, figures, rows, logits, norm)

    _each_batch(model, tokens, cut, handle, on_progress, cancel)
    return CandidateScores(PositionFigures.concat(parts), tracker.result())


def _each_batch(model, tokens: list[int], cut: Plan, handle: Callable[[int, int, np.ndarray, np.ndarray], None],
                on_progress: ProgressCallback, cancel: CancelToken | None) -> None:
    """Decode every window on a scoring context of `model`; `handle(window, row, logits, targets)` per batch
    with scored positions (`row`: the first one's index among its window's scored positions; `logits`: a view
    valid during the call only)."""
    bos = model.bos_token_id if model.add_bos else None
    scored = range(cut.first, cut.window - 1)  # the last position has no next token to score
    meter = ProgressMeter("score", cut.windows, on_progress, unit="windows")
    with model.borrow_native() as native, closing(_Context(*native, cut)) as context:
        for index in range(cut.windows):
            chunk = tokens[index * cut.window:(index + 1) * cut.window]
            if bos is not None:
                chunk[0] = bos  # as llama-perplexity: every window starts the way a fresh prompt does
            context.clear()
            for start in range(0, cut.window, cut.batch):
                check(cancel, "scoring")
                logits = context.decode(chunk[start:start + cut.batch], start, scored)
                if logits is not None:
                    first = max(start, scored.start)
                    handle(index, first - cut.first, logits, np.asarray(chunk[first + 1:first + 1 + len(logits)]))
            meter.advance(1)
    meter.finish()


# ---------------------------------------------------------------------------------------------- logprobs


def logprob_entries(vocab: Vocab, logits: np.ndarray, targets: Sequence[int], top_n: int) -> list[TokenLogprob]:
    """Per logits row: the target token's log-probability and the `top_n` most likely tokens (raw softmax of
    the logits, float64 sums as for perplexity). Vectorised over the vocabulary: one max/exp/sum pass, plus one
    argpartition when alternatives are asked for (no full sort of 262k logits)."""
    dist = _Dist.of(logits)
    chosen = (-dist.nll(np.asarray(targets))).tolist()
    top_n = min(top_n, logits.shape[1])
    ids = top = [[] for _ in chosen]
    if top_n > 0:
        part = np.argpartition(dist.shifted, -top_n, axis=1)[:, -top_n:]
        values = np.take_along_axis(dist.shifted, part, axis=1)
        order = np.argsort(-values, axis=1, kind="stable")
        ids = np.take_along_axis(part, order, axis=1).tolist()
        top = (np.take_along_axis(values, order, axis=1).astype(np.float64)
               - np.log(dist.total)[:, None]).tolist()
    entries = []
    for target, logprob, row_ids, row_top in zip(targets, chosen, ids, top, strict=True):
        # the chosen token's bytes are its text as generated; alternatives name control tokens (<eos>)
        alternatives = tuple((t, vocab.piece(t, True), v) for t, v in zip(row_ids, row_top, strict=True))
        entries.append(TokenLogprob(token=int(target), bytes=vocab.piece(int(target)), logprob=logprob,
                                    top=alternatives))
    return entries


def prompt_logprobs(model, tokens: Sequence[int], top_n: int) -> list[TokenLogprob]:
    """Each prompt token's entry given the tokens before it (the first token's logprob is None), on a scoring
    context of the model's own like `score_one` (generation keeps running). ContextLengthExceeded when the
    tokens do not fit the model's per-request context."""
    tokens = [int(t) for t in tokens]
    if not tokens:
        raise InvalidParameter("the prompt is empty")
    if len(tokens) > model.n_ctx:
        raise ContextLengthExceeded(len(tokens), model.n_ctx)
    cut = Plan(window=len(tokens), windows=1,
               batch=max(1, min(len(tokens), LOGITS_BUDGET_BYTES // (4 * model.n_vocab))))
    outputs = range(len(tokens) - 1)  # row p predicts token p + 1; the last token predicts nothing here
    entries = [TokenLogprob(token=tokens[0], bytes=model.vocab.piece(tokens[0]), logprob=None)]
    with model.borrow_native() as handle, closing(_Context(*handle, cut)) as context:
        for start in range(0, len(tokens), cut.batch):
            logits = context.decode(tokens[start:start + cut.batch], start, outputs)
            if logits is not None:
                targets = tokens[start + 1:start + 1 + len(logits)]
                entries += logprob_entries(model.vocab, logits, targets, top_n)
    return entries
