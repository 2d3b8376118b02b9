"""Quality figures for Compare: each target's perplexity over a fixed text and, against the first target, the KL
divergence and how often both put the same token on top (what `llama-perplexity --kl-divergence` reports).

Targets that tokenize the text as the reference does are scored in lockstep with it, others get perplexity only.
The bundled text is chapter 1 of *Pride and Prejudice* (resources/quality_text.txt). See docs/design.md §8, §4.8.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..chat.prepare import ChatTarget, prepare_completion, resolve_target
from ..errors import InvalidParameter, WorkbenchError
from ..tasks import CancelToken, Progress, ProgressCallback, no_progress
from .compare import MAX_TARGETS, MIN_TARGETS

if TYPE_CHECKING:
    from ..app import Workbench

DEFAULT_WINDOW = 512


@dataclass(frozen=True)
class TargetQuality:
    """One target's figures. KL fields are None for the reference and for a target with another vocabulary;
    everything is None (and `error` set) for a target that could not be loaded."""

    target: str
    model_name: str
    model_sha256: str
    quantization: str | None
    tokens_scored: int = 0
    perplexity: float | None = None
    nll_mean: float | None = None
    kl_mean: float | None = None
    kl_p99: float | None = None
    kl_max: float | None = None
    same_top_percent: float | None = None
    same_vocabulary: bool = True
    error: str | None = None


@dataclass(frozen=True)
class QualityResult:
    text_sha256: str
    text_tokens: int  # the text in the reference's tokens (BOS included when the model adds one)
    window: int
    windows: int
    seconds: float  # wall time of the scoring passes (loading excluded)
    targets: tuple[TargetQuality, ...]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_text() -> str:
    return resources.files("workbench").joinpath("resources/quality_text.txt").read_text(encoding="utf-8")


def figures_text(figures: TargetQuality, index: int) -> str:
    """'PPL 12.34 · KL 0.0123 (p99 0.0812) · same top 93.1%' — the CLI table's cells and the app's stats line."""
    if figures.error:
        return f"error: {figures.error}"
    parts = [f"PPL {figures.perplexity:.2f}"]  # two decimals: quantizations differ in the second
    if index == 0:
        parts.append("reference")
    elif figures.kl_mean is None:
        parts.append("KL - (another vocabulary)")
    else:
        parts += [f"KL {figures.kl_mean:.4g} (p99 {figures.kl_p99:.3g})", f"same top {figures.same_top_percent:.1f}%"]
    return " · ".join(parts)


def quality(wb: Workbench, targets: Sequence[str], *, text: str | None = None, window: int = DEFAULT_WINDOW,
            on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> QualityResult:
    """Score `text` (default: the bundled one) on 2–4 targets; the first is the reference.

    NotFound for an unknown target and InvalidParameter for a bad count, an empty or too-short text or a bad
    window are raised before anything is scored; a target other than the reference that cannot load is
    reported in its row. Cancelled when `cancel` is set (checked per batch). Progress: unit "windows".
    """
    from ..engine.scoring import MIN_WINDOW, score_models

    if not MIN_TARGETS <= len(targets) <= MAX_TARGETS:
        raise InvalidParameter(f"quality takes {MIN_TARGETS} to {MAX_TARGETS} targets, got {len(targets)}")
    if not isinstance(window, int) or window < MIN_WINDOW:  # before anything loads (the engine checks it too)
        raise InvalidParameter(f"the scoring window must be at least {MIN_WINDOW} tokens, got {window!r}")
    text = default_text() if text is None else text
    if not text.strip():
        raise InvalidParameter("the text to score is empty")
    resolved = [resolve_target(wb, name) for name in targets]
    report = on_progress or no_progress
    loaded = [_load(wb, target, required=index == 0) for index, target in enumerate(resolved)]
    reference, tokens = loaded[0], loaded[0].tokenize(text)
    lockstep = [i for i in range(1, len(loaded))
                if not isinstance(loaded[i], str) and _same_vocab(reference, loaded[i], text, tokens)]
    started = time.perf_counter()
    joint = score_models(reference, [loaded[i] for i in lockstep], tokens, window=window,
                         on_progress=_labelled(report, resolved[0].name), cancel=cancel)
    rows: list[TargetQuality | None] = [_row(resolved[0], joint.reference)] + [None] * (len(resolved) - 1)
    for i, candidate in zip(lockstep, joint.candidates, strict=True):
        rows[i] = _row(resolved[i], candidate.score, candidate)
    for i in range(1, len(resolved)):
        if rows[i] is None:
            rows[i] = _apart(resolved[i], loaded[i], text, window, _labelled(report, resolved[i].name), cancel)
    return QualityResult(text_sha256=hashlib.sha256(text.encode()).hexdigest(), text_tokens=len(tokens),
                         window=joint.window, windows=joint.windows, seconds=time.perf_counter() - started,
                         targets=tuple(rows))


def _apart(target: ChatTarget, loaded, text: str, window: int, report: ProgressCallback,
           cancel: CancelToken | None) -> TargetQuality:
    """A target outside the lockstep: its load error, or (another vocabulary) its perplexity on its own tokens."""
    from ..engine.scoring import score_one

    if isinstance(loaded, str):
        return _row(target, None, error=loaded)
    own = score_one(loaded, loaded.tokenize(text), window=window, on_progress=report, cancel=cancel)
    return dataclasses.replace(_row(target, own), same_vocabulary=False)


def _load(wb: Workbench, target: ChatTarget, *, required: bool):
    """The target's loaded model (reproducible mode, the preset's load options), or the error text."""
    try:
        load = prepare_completion(wb, target, "-", reproducible=True).load
        return wb.runtime.acquire(target.model, load)
    except WorkbenchError as exc:
        if required:
            raise
        return str(exc)


def _same_vocab(reference, candidate, text: str, tokens: list[int]) -> bool:
    """KL compares distributions token by token: only meaningful when both tokenize the text identically."""
    return candidate.n_vocab == reference.n_vocab and candidate.tokenize(text) == tokens


def _labelled(report: ProgressCallback, name: str) -> ProgressCallback:
    return lambda p: report(Progress("quality", p.completed, p.total, unit=p.unit, message=name))


def _row(target: ChatTarget, score, candidate=None, *, error: str | None = None) -> TargetQuality:
    base = TargetQuality(target=target.name, model_name=target.model.name, model_sha256=target.model.sha256,
                         quantization=target.model.quantization, error=error)
    if score is None:
        return base
    kl = {} if candidate is None else {"kl_mean": candidate.kl_mean, "kl_p99": candidate.kl_p99,
                                       "kl_max": candidate.kl_max, "same_top_percent": candidate.same_top_percent}
    return dataclasses.replace(base, tokens_scored=score.tokens_scored, perplexity=score.perplexity,
                               nll_mean=score.nll_mean, **kl)
