"""Quality figures over a fixed token sequence: perplexity, and KL divergence / same top token against a reference.

`LoadedModel.score(tokens, window)` for one model, `score_models(reference, candidates, tokens, window)` for a
reference and 1–3 candidates in lockstep: computed as `llama-perplexity --kl-divergence` does, on contexts of
their own with batch sizes fixed by the vocabulary (docs/design.md §4.8).
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass

import llama_cpp
import numpy as np

from ..errors import ContextLengthExceeded, InvalidParameter, ModelLoadError
from ..tasks import CancelToken, ProgressCallback, ProgressMeter, check, no_progress
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
class CandidateScore:
    """A candidate against the reference over the same positions: KL(ref ‖ cand) in nats, same-top-token %."""

    score: ModelScore
    kl_mean: float
    kl_p99: float
    kl_max: float
    same_top_percent: float


@dataclass(frozen=True)
class ScoreComparison:
    """The reference's score and each candidate's (in the order given), over `windows` windows of `window`."""

    reference: ModelScore
    candidates: tuple[CandidateScore, ...]
    window: int
    windows: int


@dataclass(frozen=True)
class Plan:
    """How a token sequence is cut: `windows` windows of `window` tokens, scoring positions first..window-2."""

    window: int
    windows: int
    batch: int

    @property
    def first(self) -> int:
        return self.window // 2


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
    return Plan(window=window, windows=n_tokens // window, batch=batch)


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

    def kl_from(self, ref: _Dist) -> np.ndarray:
        """KL(ref ‖ self) per row = Σ p_ref (s_ref − s_self) − (log Z_ref − log Z_self), with p_ref = e_ref / Z_ref."""
        cross = np.einsum("ij,ij->i", ref.exp, ref.shifted - self.shifted, dtype=np.float64)
        return cross / ref.total - (np.log(ref.total) - np.log(self.total))


class _Tally:
    """Per-position figures of one model (NLL) and, for a candidate, KL and top-token agreement."""

    def __init__(self) -> None:
        self.nll: list[np.ndarray] = []
        self.kl: list[np.ndarray] = []
        self.same_top = 0

    def model_score(self) -> ModelScore:
        nll = np.concatenate(self.nll)
        mean = math.fsum(nll.tolist()) / len(nll)
        return ModelScore(tokens_scored=len(nll), nll_mean=mean, perplexity=math.exp(mean))

    def candidate_score(self) -> CandidateScore:
        kl = np.concatenate(self.kl)
        return CandidateScore(score=self.model_score(), kl_mean=math.fsum(kl.tolist()) / len(kl),
                              kl_p99=float(np.percentile(kl, 99)), kl_max=float(kl.max()),
                              same_top_percent=100.0 * self.same_top / len(kl))


def score_models(reference, candidates: Sequence = (), tokens: Sequence[int] = (), *, window: int = DEFAULT_WINDOW,
                 on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> ScoreComparison:
    """Score `tokens` on the reference LoadedModel and each candidate (same vocabulary) in lockstep.

    Raises InvalidParameter for too few tokens, a bad window, a token outside the vocabulary or a candidate
    whose vocabulary size differs; Cancelled (checked per batch) when `cancel` is set; EngineError when a
    model was unloaded. Progress: unit "windows" (with rate and ETA), throttled, the last one always sent.
    """
    models = [reference, *candidates]
    for other in candidates:
        if other.n_vocab != reference.n_vocab:
            raise InvalidParameter(
                f"{other.name} has a vocabulary of {other.n_vocab} tokens and {reference.name} one of "
                f"{reference.n_vocab}: KL divergence needs the same vocabulary (quantizations of one model)")
    tokens = [int(t) for t in tokens]
    bad = [t for t in tokens if not 0 <= t < reference.n_vocab]
    if bad:
        raise InvalidParameter(f"token {bad[0]} is outside the vocabulary ({reference.n_vocab})")
    cut = plan(len(tokens), window, min(m.n_ctx_train for m in models), reference.n_vocab)
    bos = reference.bos_token_id if reference.add_bos else None
    with ExitStack() as stack:
        # each distinct model's lock once (the same model may be reference and candidate), in one global order
        # so two scorings of the same pair in opposite roles cannot deadlock
        distinct = sorted({id(m): m for m in models}.values(), key=id)
        handles = {id(m): stack.enter_context(m.borrow_native()) for m in distinct}
        contexts = [stack.enter_context(closing(_Context(*handles[id(m)], cut))) for m in models]
        tallies = _run(contexts, tokens, cut, bos, on_progress, cancel)
    return ScoreComparison(reference=tallies[0].model_score(),
                           candidates=tuple(t.candidate_score() for t in tallies[1:]),
                           window=cut.window, windows=cut.windows)


def score_one(model, tokens: Sequence[int], *, window: int = DEFAULT_WINDOW,
              on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> ModelScore:
    return score_models(model, (), tokens, window=window, on_progress=on_progress, cancel=cancel).reference


def _run(contexts: list[_Context], tokens: list[int], cut: Plan, bos: int | None,
         on_progress: ProgressCallback, cancel: CancelToken | None) -> list[_Tally]:
    tallies = [_Tally() for _ in contexts]
    meter = ProgressMeter("score", cut.windows, on_progress, unit="windows")
    for index in range(cut.windows):
        chunk = tokens[index * cut.window:(index + 1) * cut.window]
        if bos is not None:
            chunk[0] = bos  # as llama-perplexity: every window starts the way a fresh prompt does
        for context in contexts:
            context.clear()
        for start in range(0, cut.window, cut.batch):
            check(cancel, "scoring")
            _score_batch(contexts, tallies, chunk, start, cut)
        meter.advance(1)
    meter.finish()
    return tallies


def _score_batch(contexts: list[_Context], tallies: list[_Tally], chunk: list[int], start: int, cut: Plan) -> None:
    """One batch of positions on every model; the distributions live only for this call."""
    end = min(start + cut.batch, cut.window)
    scored = range(cut.first, cut.window - 1)  # the last position has no next token to score
    reference: _Dist | None = None
    for context, tally in zip(contexts, tallies, strict=True):
        logits = context.decode(chunk[start:end], start, scored)
        if logits is None:
            continue
        dist = _Dist.of(logits)
        first_output = max(start, scored.start)
        targets = np.asarray(chunk[first_output + 1:first_output + 1 + len(logits)])
        tally.nll.append(dist.nll(targets))
        if reference is None:
            reference = dist
            continue
        tally.kl.append(dist.kl_from(reference))
        tally.same_top += int(np.count_nonzero(dist.shifted.argmax(axis=1) == reference.shifted.argmax(axis=1)))


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
    context of the model's own like `score_models` (generation keeps running). ContextLengthExceeded when the
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
