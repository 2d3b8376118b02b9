"""Next-token distributions compared the way `llama-perplexity --kl-divergence` compares them: `compact` keeps
a reference batch's tokens above log p −16 in llama-perplexity's 16-bit steps (`ReferenceRows`), `against` gives a
candidate's per-position NLL, KL(ref ‖ cand), Δp and same top token, `WorstPositions` the largest KLs
(docs/design.md §4.8).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

LOG_P_FLOOR = -16.0  # llama-perplexity drops reference tokens at or below this log-probability
LEVELS = 65535  # 16-bit steps over [max logit − 16, max logit]
_F32 = np.float32


@dataclass(frozen=True)
class ReferenceRows:
    """The reference's distributions at consecutive scored positions, compacted (arrays indexed by position,
    except `ids`/`levels`, which hold `counts[i]` entries per position, ids ascending)."""

    counts: np.ndarray  # int32: kept tokens per position (≥ 1: the top token is always kept)
    ids: np.ndarray  # int32
    levels: np.ndarray  # uint16: log p = levels · scale + offset
    scale: np.ndarray  # float32
    offset: np.ndarray  # float32: the log-probability of level 0
    target_logp: np.ndarray  # float32: the next token's log-probability, in the same 16-bit steps
    top: np.ndarray  # int32: the most likely token (the first on a tie, as llama-perplexity)

    ARRAYS = ("counts", "ids", "levels", "scale", "offset", "target_logp", "top")

    @property
    def positions(self) -> int:
        return len(self.counts)

    def rows(self) -> np.ndarray:
        """Each entry's position."""
        return np.repeat(np.arange(self.positions), self.counts)

    def log_probs(self) -> np.ndarray:
        """Each entry's log-probability, float32 as llama-perplexity computes it."""
        rows = self.rows()
        return self.levels.astype(_F32) * self.scale[rows] + self.offset[rows]

    def slice(self, start: int, stop: int) -> ReferenceRows:
        bounds = np.concatenate(([0], np.cumsum(self.counts, dtype=np.int64)))
        a, b = bounds[start], bounds[stop]
        return ReferenceRows(self.counts[start:stop], self.ids[a:b], self.levels[a:b], self.scale[start:stop],
                             self.offset[start:stop], self.target_logp[start:stop], self.top[start:stop])

    def top_tokens(self, position: int, n: int) -> list[tuple[int, float]]:
        """The position's `n` most likely tokens with their probabilities."""
        one = self.slice(position, position + 1)
        logp = one.log_probs()
        order = np.argsort(-logp, kind="stable")[:n]
        return [(int(one.ids[i]), float(np.exp(logp[i]))) for i in order]

    @classmethod
    def concat(cls, parts: list[ReferenceRows]) -> ReferenceRows:
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in cls.ARRAYS))


def _log_sum_exp(logits: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """log Σ exp(x − max) per row: float32 exponentials summed in float64, the log rounded to float32 (as
    llama-perplexity's `log_softmax`)."""
    return np.log(np.exp(logits - peak[:, None]).sum(axis=1, dtype=np.float64)).astype(_F32)


def _quantize(values: np.ndarray, low: np.ndarray, inv_scale: np.ndarray) -> np.ndarray:
    """llama-perplexity's `nearest_int(inv_scale · (logit − min_logit))`, 0 at or below min_logit (float32,
    round half to even as the FPU does)."""
    return np.where(values > low, np.rint(inv_scale * (values - low)), _F32(0)).astype(_F32)


def compact(logits: np.ndarray, targets: np.ndarray) -> ReferenceRows:
    """The reference's rows (float32 logits, one row per scored position; `targets` = each next token)."""
    n = len(logits)
    peak = logits.max(axis=1)
    low = np.maximum(logits.min(axis=1), peak - _F32(16))
    lse = _log_sum_exp(logits, peak)
    offset = (low - peak - lse).astype(_F32)
    scale = ((peak - low) / _F32(LEVELS)).astype(_F32)
    inv_scale = np.divide(_F32(1), scale, out=np.zeros_like(scale), where=scale > 0)
    # only entries near the floor can be kept: test the exact rule on those (a 0.01 nats margin over the
    # ±half-step rounding), not on all n_vocab of them
    near = logits > (peak + lse - _F32(-LOG_P_FLOOR) - _F32(0.01))[:, None]
    rows, ids = np.nonzero(near)
    levels = _quantize(logits[rows, ids], low[rows], inv_scale[rows])
    logp = levels * scale[rows] + offset[rows]
    keep = logp > _F32(LOG_P_FLOOR)
    rows, ids, levels, logp = rows[keep], ids[keep], levels[keep], logp[keep]
    counts = np.bincount(rows, minlength=n).astype(np.int32)
    if not counts.all():
        raise ValueError("a reference position kept no token (a vocabulary over e^16 tokens?)")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    best = np.maximum.reduceat(logp, starts)
    at_best = np.nonzero(logp == best[rows])[0]
    top = ids[at_best[np.unique(rows[at_best], return_index=True)[1]]]
    at_target = logits[np.arange(n), targets]
    target_logp = _quantize(at_target, low, inv_scale) * scale + offset
    return ReferenceRows(counts, ids.astype(np.int32), levels.astype(np.uint16), scale, offset,
                         target_logp.astype(_F32), top.astype(np.int32))


@dataclass(frozen=True)
class PositionFigures:
    """A candidate's figures at consecutive scored positions (float64 arrays, `same_top` bool)."""

    nll: np.ndarray
    nll_base: np.ndarray
    kld: np.ndarray
    delta_p: np.ndarray  # p_cand(next token) − p_ref(next token)
    same_top: np.ndarray

    @classmethod
    def concat(cls, parts: list[PositionFigures]) -> PositionFigures:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("nll", "nll_base", "kld", "delta_p",
                                                                              "same_top")))


def against(reference: ReferenceRows, logits: np.ndarray, targets: np.ndarray) -> tuple[PositionFigures, np.ndarray]:
    """A candidate's figures against the reference rows, and its log-normalizer per row (max + log Σ exp).

    KL(ref ‖ cand) = Σ over the kept tokens of p_ref · (log p_ref − log p_cand): llama-perplexity's sum, which
    leaves out the reference's tokens at log p ≤ −16."""
    n = len(logits)
    peak = logits.max(axis=1)
    norm = (peak + _log_sum_exp(logits, peak)).astype(_F32)
    nll = (norm - logits[np.arange(n), targets]).astype(_F32)
    rows = reference.rows()
    logp = reference.log_probs()
    terms = np.exp(logp) * (logp - logits[rows, reference.ids] + norm[rows])
    kld = np.bincount(rows, weights=terms.astype(np.float64), minlength=n)
    nll_base = -reference.target_logp
    delta_p = np.exp(-nll) - np.exp(-nll_base)
    same_top = logits.argmax(axis=1) == reference.top
    figures = PositionFigures(nll.astype(np.float64), nll_base.astype(np.float64), kld,
                              delta_p.astype(np.float64), same_top)
    return figures, norm


@dataclass(frozen=True)
class Divergent:
    """One of the most divergent positions: where (index of the predicted token in the text), by how much, and
    each model's most likely tokens there (token id, probability)."""

    token_index: int
    kld: float
    delta_p: float
    reference_top: tuple[tuple[int, float], ...]
    candidate_top: tuple[tuple[int, float], ...]


class WorstPositions:
    """The `n` positions with the largest KL divergence seen so far; each model's top tokens are computed only
    for a position that enters the list (a top-k over the whole vocabulary costs as much as the softmax)."""

    TOP = 3

    def __init__(self, n: int):
        self.n = n
        self._heap: list[tuple[float, int, Divergent]] = []

    def offer(self, first_index: int, figures: PositionFigures, reference: ReferenceRows, logits: np.ndarray,
              norm: np.ndarray) -> None:
        if self.n <= 0:
            return
        floor = self._heap[0][0] if len(self._heap) >= self.n else -np.inf
        for row in np.nonzero(figures.kld > floor)[0]:
            kld = float(figures.kld[row])
            if len(self._heap) >= self.n and kld <= self._heap[0][0]:
                continue
            top = np.argpartition(logits[row], -self.TOP)[-self.TOP:]
            top = top[np.argsort(-logits[row][top], kind="stable")]
            candidate = tuple((int(t), float(np.exp(logits[row, t] - norm[row]))) for t in top)
            entry = Divergent(first_index + int(row), kld, float(figures.delta_p[row]),
                              tuple(reference.top_tokens(int(row), self.TOP)), candidate)
            item = (kld, entry.token_index, entry)
            (heapq.heapreplace if len(self._heap) >= self.n else heapq.heappush)(self._heap, item)

    def result(self) -> tuple[Divergent, ...]:
        return tuple(entry for _, _, entry in sorted(self._heap, key=lambda e: (-e[0], e[1])))
