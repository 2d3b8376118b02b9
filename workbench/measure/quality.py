"""Quality figures for Compare: each target's perplexity over a text and, against the first target (the
reference), every statistic `llama-perplexity --kl-divergence` reports, plus where the two diverge most.

The reference's distributions are computed once per (model, text, window) and stored (measure/reference.py);
later runs load only the models being judged. See docs/design.md §8, §4.8.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..chat.prepare import ChatTarget, prepare_completion, resolve_target
from ..errors import Cancelled, InvalidParameter, NotFound, WorkbenchError
from ..tasks import CancelToken, Progress, ProgressCallback, no_progress
from .compare import MAX_TARGETS, MIN_TARGETS
from .reference import (
    InvalidReference,
    ReferenceInfo,
    StoredReference,
    list_references,
    reference_path,
    store_reference,
)
from .statistics import DivergenceReport, divergence_report

if TYPE_CHECKING:
    from ..app import Workbench

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 512
DEFAULT_WORST = 10
CONTEXT_TOKENS = 16  # shown before each of the worst positions


@dataclass(frozen=True)
class WorstPosition:
    """A position where the candidate diverges most: the index of the predicted token in the text, KL and Δp
    there, the text before it, the token itself, and each model's most likely tokens (text, probability)."""

    token_index: int
    kld: float
    delta_p_percent: float
    context: str
    token: str
    reference_top: tuple[tuple[str, float], ...]
    candidate_top: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class TargetQuality:
    """One target's figures. KL fields and `report` are None for the reference and for a target with another
    vocabulary; everything is None (and `error` set) for a target that could not be scored."""

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
    report: DivergenceReport | None = None
    worst: tuple[WorstPosition, ...] = ()
    kld_per_position: tuple[float, ...] = ()  # in text order: see QualityResult.scored_token_indices


@dataclass(frozen=True)
class ReferenceUse:
    """The stored reference a result was measured against, and whether it was reused or computed for it."""

    path: str
    reused: bool
    size_bytes: int
    created_at: str
    runtime: str
    tokens_per_position: float  # reference tokens kept per scored position


@dataclass(frozen=True)
class QualityResult:
    text_sha256: str
    text_tokens: int  # the text in the reference's tokens (BOS included when the model adds one)
    window: int
    windows: int
    seconds: float  # wall time of the scoring passes (loading excluded)
    targets: tuple[TargetQuality, ...]
    reference: ReferenceUse | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def scored_token_indices(self) -> list[int]:
        """The text index of the token predicted at each scored position (the x of `kld_per_position`)."""
        first = self.window // 2
        return [w * self.window + p + 1 for w in range(self.windows) for p in range(first, self.window - 1)]


def default_text() -> str:
    return resources.files("workbench.resources").joinpath("quality_text.txt").read_text(encoding="utf-8")


def load_text(path: str | os.PathLike) -> str:
    """A UTF-8 text file, or a folder's files (recursively, by path, hidden ones skipped) as one corpus: each
    file's text, separated by a blank line. InvalidParameter naming the file that cannot be read."""
    path = Path(path).expanduser()
    if not path.is_dir():
        return _read(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise InvalidParameter(f"the folder {path} holds no files to score")
    return "\n\n".join(_read(p).strip("\n") for p in files)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"cannot read the text file {path}: {exc}") from None


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
            worst: int = DEFAULT_WORST, on_progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None) -> QualityResult:
    """Score `text` (default: the bundled one) on 2–4 targets; the first is the reference, reused when stored.

    NotFound for an unknown target and InvalidParameter for a bad count, an empty or too-short text or a bad
    window are raised before anything is scored; a target other than the reference that cannot be scored is
    reported in its row. Cancelled when `cancel` is set (checked per batch). Progress: unit "windows".
    """
    if not MIN_TARGETS <= len(targets) <= MAX_TARGETS:
        raise InvalidParameter(f"quality takes {MIN_TARGETS} to {MAX_TARGETS} targets, got {len(targets)}")
    text = _checked_text(text, window)
    reference = resolve_reference(wb, targets[0])
    candidates = [resolve_target(wb, name) for name in targets[1:]]
    report = on_progress or no_progress
    started = time.perf_counter()
    use = ensure_reference(wb, reference, text, window=window, on_progress=report, cancel=cancel)
    with StoredReference(Path(use.path)) as stored:
        rows = [_reference_row(reference, stored)]
        rows += [_candidate_row(wb, target, stored, text, worst, _labelled(report, target.name), cancel)
                 for target in candidates]
    info = stored.info
    return QualityResult(text_sha256=info.text_sha256, text_tokens=info.text_tokens, window=info.window,
                         windows=info.windows, seconds=time.perf_counter() - started, targets=tuple(rows),
                         reference=use)


def _checked_text(text: str | None, window: int) -> str:
    from ..engine.scoring import MIN_WINDOW

    if not isinstance(window, int) or window < MIN_WINDOW:  # before anything loads (the engine checks it too)
        raise InvalidParameter(f"the scoring window must be at least {MIN_WINDOW} tokens, got {window!r}")
    text = default_text() if text is None else text
    if not text.strip():
        raise InvalidParameter("the text to score is empty")
    return text


def resolve_reference(wb: Workbench, name: str) -> ChatTarget | ReferenceInfo:
    """A preset or library model, or else a model known here only by its stored references (name or sha256)."""
    try:
        return resolve_target(wb, name)
    except NotFound:
        known = {info.model_sha256: info for _, info in list_references(wb.paths)
                 if name in (info.model_name, info.model_sha256)
                 or (len(name) >= 12 and info.model_sha256.startswith(name))}
        if len(known) == 1:
            return next(iter(known.values()))
        raise


def ensure_reference(wb: Workbench, reference: ChatTarget | ReferenceInfo, text: str, *,
                     window: int = DEFAULT_WINDOW, on_progress: ProgressCallback | None = None,
                     cancel: CancelToken | None = None) -> ReferenceUse:
    """The stored reference of `reference` over `text` in windows of `window`, computed and stored if missing
    (or damaged). A preset with an ADAPTER is computed every time, into the cache folder."""
    text = _checked_text(text, window)
    text_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if isinstance(reference, ReferenceInfo):
        path = reference_path(wb.paths, reference.model_sha256, text_sha256, window)
        if not path.is_file():
            raise NotFound(f"{reference.model_name} is not in this library and has no stored reference over this "
                           f"text (sha256 {text_sha256[:12]}…) in windows of {window}")
        return _use(path, reused=True)
    load = prepare_completion(wb, reference, "-", reproducible=True).load
    if load.lora_path:
        path = wb.paths.cache / "references" / f"adapter-{text_sha256}-w{window}.wbref"
    else:
        path = reference_path(wb.paths, reference.model.sha256, text_sha256, window)
        if _reusable(path, reference.model.sha256, text_sha256):
            return _use(path, reused=True)
    loaded = wb.runtime.acquire(reference.model, load)
    info = wb.runtime.backend_info()
    store_reference(path, loaded, model_name=reference.model.name, quantization=reference.model.quantization,
                    model_sha256=reference.model.sha256, text_sha256=text_sha256, tokens=loaded.tokenize(text),
                    window=window, runtime=f"llama-cpp-python {info.llama_cpp_python}, ggml {info.ggml_version}, "
                    f"{info.backend}", on_progress=_labelled(on_progress or no_progress, f"{reference.name} "
                                                             "(reference)"), cancel=cancel)
    return _use(path, reused=False)


def _reusable(path: Path, model_sha256: str, text_sha256: str) -> bool:
    if not path.is_file():
        return False
    try:
        with StoredReference(path) as stored:
            return (stored.info.model_sha256, stored.info.text_sha256) == (model_sha256, text_sha256)
    except InvalidReference as exc:
        log.warning("computing the reference again: %s", exc)
        return False


def _use(path: Path, *, reused: bool) -> ReferenceUse:
    with StoredReference(path) as stored:
        info = stored.info
    return ReferenceUse(path=str(path), reused=reused, size_bytes=path.stat().st_size, created_at=info.created_at,
                        runtime=info.runtime, tokens_per_position=info.entries / info.positions)


def _reference_row(reference: ChatTarget | ReferenceInfo, stored: StoredReference) -> TargetQuality:
    """PPL(base) as llama-perplexity computes it: from the stored next-token log-probabilities."""
    nll = -stored.target_logp().astype(float)
    mean = float(nll.sum() / len(nll))
    return dataclasses.replace(_base(reference), tokens_scored=len(nll), nll_mean=mean,
                               perplexity=math.exp(mean))


def _candidate_row(wb: Workbench, target: ChatTarget, stored: StoredReference, text: str, worst: int,
                   report: ProgressCallback, cancel: CancelToken | None) -> TargetQuality:
    """The candidate against the stored reference; its perplexity alone when it tokenizes the text otherwise."""
    from ..engine.scoring import score_against, score_one

    try:
        loaded = wb.runtime.acquire(target.model, prepare_completion(wb, target, "-", reproducible=True).load)
        tokens = loaded.tokenize(text)
        if loaded.n_vocab != stored.info.n_vocab or tokens != stored.tokens.tolist():
            # KL compares distributions token by token: only meaningful over the same tokens
            own = score_one(loaded, tokens, window=stored.info.window, on_progress=report, cancel=cancel)
            return dataclasses.replace(_base(target), tokens_scored=own.tokens_scored, nll_mean=own.nll_mean,
                                       perplexity=own.perplexity, same_vocabulary=False)
        scores = score_against(loaded, tokens, stored.info.plan(), stored.window, worst=worst, on_progress=report,
                               cancel=cancel)
    except Cancelled:
        raise
    except WorkbenchError as exc:
        return dataclasses.replace(_base(target), error=str(exc))
    f = scores.figures
    stats = divergence_report(f.nll, f.nll_base, f.kld, f.delta_p, f.same_top)
    return dataclasses.replace(
        _base(target), tokens_scored=stats.positions, perplexity=stats.ppl.value, nll_mean=float(f.nll.mean()),
        kl_mean=stats.kld.value, kl_p99=stats.kld_spread.percentiles["99"], kl_max=stats.kld_spread.maximum,
        same_top_percent=stats.same_top_percent.value, report=stats, kld_per_position=tuple(f.kld.tolist()),
        worst=tuple(_worst_position(loaded, tokens, d) for d in scores.worst))


def _worst_position(loaded, tokens: list[int], divergent) -> WorstPosition:
    i = divergent.token_index
    context = loaded.detokenize(tokens[max(1, i - CONTEXT_TOKENS):i])  # not the BOS at 0

    def named(top):
        return tuple((loaded.token_text(token), probability) for token, probability in top)

    return WorstPosition(token_index=i, kld=divergent.kld, delta_p_percent=100 * divergent.delta_p,
                         context=context, token=loaded.token_text(tokens[i]),
                         reference_top=named(divergent.reference_top), candidate_top=named(divergent.candidate_top))


def _base(target: ChatTarget | ReferenceInfo) -> TargetQuality:
    if isinstance(target, ReferenceInfo):
        return TargetQuality(target=target.model_name, model_name=target.model_name,
                             model_sha256=target.model_sha256, quantization=target.quantization)
    return TargetQuality(target=target.name, model_name=target.model.name, model_sha256=target.model.sha256,
                         quantization=target.model.quantization)


def _labelled(report: ProgressCallback, name: str) -> ProgressCallback:
    return lambda p: report(Progress("quality", p.completed, p.total, unit=p.unit, message=name))
