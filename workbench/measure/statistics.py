"""llama-perplexity's `--kl-divergence` report, figure for figure, from per-position figures: perplexities, their
ratio and difference with errors, KL divergence and Δp (mean ± error, percentiles, extremes), RMS Δp and the
same-top-token rate — each computed by the formula its tools/perplexity/perplexity.cpp uses (docs/design.md §4.8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KLD_PERCENTILES = (99.9, 99.0, 95.0, 90.0, 10.0, 5.0, 1.0, 0.1)
DELTA_P_PERCENTILES = (99.9, 99.0, 95.0, 90.0, 75.0, 25.0, 10.0, 5.0, 1.0, 0.1)


@dataclass(frozen=True)
class Estimate:
    """A mean and its standard error (0 for fewer than 11 positions, as llama-perplexity)."""

    value: float
    error: float

    def text(self, digits: int, scale: float = 1.0) -> str:
        return f"{self.value * scale:.{digits}f} ± {self.error * scale:.{digits}f}"


@dataclass(frozen=True)
class Spread:
    """A distribution over positions: maximum, percentiles (keyed "99.9", …, as printed), median, minimum."""

    maximum: float
    percentiles: dict[str, float]
    median: float
    minimum: float


@dataclass(frozen=True)
class DivergenceReport:
    """Everything `llama-perplexity --kl-divergence` prints after its per-chunk lines. Δp is in percent."""

    positions: int
    ppl: Estimate
    ppl_base: Estimate
    ppl_correlation: float  # of ln PPL(Q) and ln PPL(base), as a fraction
    ln_ppl_ratio: Estimate
    ppl_ratio: Estimate
    ppl_difference: Estimate
    kld: Estimate
    kld_spread: Spread
    delta_p_percent: Estimate
    delta_p_spread: Spread  # in percent
    rms_delta_p_percent: Estimate
    same_top_percent: Estimate


def _mean_and_error(values: np.ndarray) -> Estimate:
    """perplexity.cpp's mean_and_uncertainty: f = Σx/n, error = sqrt((Σx²/n − f²)/(n − 1)) when positive, n > 10."""
    n = len(values)
    mean = float(values.sum() / n)
    variance = float((values * values).sum() / n - mean * mean)
    return Estimate(mean, math.sqrt(variance / (n - 1)) if variance > 0 and n > 10 else 0.0)


def _covariance(a: np.ndarray, b: np.ndarray) -> float:
    n = len(a)
    if n < 10:
        return 0.0
    return float(((a * b).sum() / n - (a.sum() / n) * (b.sum() / n)) / (n - 1))


def percentile(ordered: np.ndarray, fraction: float) -> float:
    """perplexity.cpp's `percentile`: linear interpolation at fraction · (n − 1) of the sorted values."""
    if fraction <= 0:
        return float(ordered[0])
    if fraction >= 1:
        return float(ordered[-1])
    point = fraction * (len(ordered) - 1)
    index = int(point)
    point -= index
    return float((1 - point) * ordered[index] + point * ordered[min(index + 1, len(ordered) - 1)])


def _spread(values: np.ndarray, levels: tuple[float, ...], scale: float = 1.0) -> Spread:
    ordered = np.sort(values.astype(np.float32))  # perplexity.cpp keeps these per-position values as float
    n = len(ordered)
    median = float(ordered[n // 2]) if n % 2 else 0.5 * float(ordered[n // 2] + ordered[n // 2 - 1])
    return Spread(maximum=float(ordered[-1]) * scale,
                  percentiles={f"{level:g}": percentile(ordered, level / 100) * scale for level in levels},
                  median=median * scale, minimum=float(ordered[0]) * scale)


def divergence_report(nll: np.ndarray, nll_base: np.ndarray, kld: np.ndarray, delta_p: np.ndarray,
                      same_top: np.ndarray) -> DivergenceReport:
    """The report over per-position arrays (the candidate's NLL, the reference's, KL, Δp, same top)."""
    nll, nll_base = nll.astype(np.float64), nll_base.astype(np.float64)
    log_ppl, log_ppl_base = _mean_and_error(nll), _mean_and_error(nll_base)
    cov = _covariance(nll, nll_base)
    ppl, ppl_base = math.exp(log_ppl.value), math.exp(log_ppl_base.value)
    ppl_error, ppl_base_error = ppl * log_ppl.error, ppl_base * log_ppl_base.error
    ratio = log_ppl.value - log_ppl_base.value
    ratio_error = math.sqrt(max(0.0, log_ppl.error ** 2 + log_ppl_base.error ** 2 - 2 * cov))
    errors = log_ppl.error * log_ppl_base.error
    difference_error = math.sqrt(max(0.0, ppl_error ** 2 + ppl_base_error ** 2 - 2 * ppl * ppl_base * cov))
    mse = _mean_and_error(delta_p.astype(np.float64) ** 2)
    rms = math.sqrt(mse.value)
    count = len(same_top)
    top = float(np.count_nonzero(same_top)) / count
    return DivergenceReport(
        positions=count, ppl=Estimate(ppl, ppl_error), ppl_base=Estimate(ppl_base, ppl_base_error),
        ppl_correlation=cov / errors if errors else 0.0, ln_ppl_ratio=Estimate(ratio, ratio_error),
        ppl_ratio=Estimate(math.exp(ratio), math.exp(ratio) * ratio_error),
        ppl_difference=Estimate(ppl - ppl_base, difference_error),
        kld=_mean_and_error(kld.astype(np.float64)), kld_spread=_spread(kld, KLD_PERCENTILES),
        delta_p_percent=_scaled(_mean_and_error(delta_p.astype(np.float64)), 100),
        delta_p_spread=_spread(delta_p, DELTA_P_PERCENTILES, 100),
        rms_delta_p_percent=Estimate(100 * rms, 100 * 0.5 / rms * mse.error if rms else 0.0),
        same_top_percent=Estimate(100 * top, 100 * math.sqrt(top * (1 - top) / (count - 1)) if count > 1 else 0.0))


def _scaled(estimate: Estimate, factor: float) -> Estimate:
    return Estimate(estimate.value * factor, estimate.error * factor)


def report_lines(report: DivergenceReport) -> list[str]:
    """The report as llama-perplexity prints it (the same labels and digits), for the CLI and the exports."""
    kld, dp = report.kld_spread, report.delta_p_spread
    lines = [f"Mean PPL(Q)                   : {report.ppl.text(6)}",
             f"Mean PPL(base)                : {report.ppl_base.text(6)}",
             f"Cor(ln(PPL(Q)), ln(PPL(base))): {100 * report.ppl_correlation:6.2f}%",
             f"Mean ln(PPL(Q)/PPL(base))     : {report.ln_ppl_ratio.text(6)}",
             f"Mean PPL(Q)/PPL(base)         : {report.ppl_ratio.text(6)}",
             f"Mean PPL(Q)-PPL(base)         : {report.ppl_difference.text(6)}", "",
             f"Mean    KLD: {report.kld.text(6)}", f"Maximum KLD: {kld.maximum:10.6f}"]
    lines += [f"{_label(level)}   KLD: {kld.percentiles[level]:10.6f}" for level in ("99.9", "99", "95", "90")]
    lines.append(f"Median  KLD: {kld.median:10.6f}")
    lines += [f"{_label(level)}   KLD: {kld.percentiles[level]:10.6f}" for level in ("10", "5", "1", "0.1")]
    lines += [f"Minimum KLD: {kld.minimum:10.6f}", "", f"Mean    Δp: {report.delta_p_percent.text(3)} %",
              f"Maximum Δp: {dp.maximum:6.3f}%"]
    lines += [f"{_label(level)}   Δp: {dp.percentiles[level]:6.3f}%" for level in ("99.9", "99", "95", "90", "75")]
    lines.append(f"Median  Δp: {dp.median:6.3f}%")
    lines += [f"{_label(level)}   Δp: {dp.percentiles[level]:6.3f}%" for level in ("25", "10", "5", "1", "0.1")]
    lines += [f"Minimum Δp: {dp.minimum:6.3f}%", f"RMS Δp    : {report.rms_delta_p_percent.text(3)} %",
              f"Same top p: {report.same_top_percent.text(3)} %"]
    return lines


def _label(level: str) -> str:
    return f"{float(level):4.1f}%"


def report_rows(report: DivergenceReport) -> list[tuple[str, str]]:
    """(statistic, value) pairs in llama-perplexity's order, for tables (Markdown, HTML, the app)."""
    kld, dp = report.kld_spread, report.delta_p_spread
    rows = [("PPL(Q)", report.ppl.text(4)), ("PPL(base)", report.ppl_base.text(4)),
            ("Cor(ln PPL(Q), ln PPL(base))", f"{100 * report.ppl_correlation:.2f}%"),
            ("ln(PPL(Q)/PPL(base))", report.ln_ppl_ratio.text(5)), ("PPL(Q)/PPL(base)", report.ppl_ratio.text(5)),
            ("PPL(Q)−PPL(base)", report.ppl_difference.text(4)), ("mean KLD", report.kld.text(6)),
            ("max KLD", f"{kld.maximum:.6f}")]
    rows += [(f"{level}% KLD", f"{kld.percentiles[level]:.6f}") for level in ("99.9", "99", "95", "90")]
    rows.append(("median KLD", f"{kld.median:.6f}"))
    rows += [(f"{level}% KLD", f"{kld.percentiles[level]:.6f}") for level in ("10", "5", "1", "0.1")]
    rows += [("min KLD", f"{kld.minimum:.6f}"), ("mean Δp", f"{report.delta_p_percent.text(3)} %"),
             ("max Δp", f"{dp.maximum:.3f}%")]
    rows += [(f"{level}% Δp", f"{dp.percentiles[level]:.3f}%") for level in ("99.9", "99", "95", "90", "75")]
    rows.append(("median Δp", f"{dp.median:.3f}%"))
    rows += [(f"{level}% Δp", f"{dp.percentiles[level]:.3f}%") for level in ("25", "10", "5", "1", "0.1")]
    rows += [("min Δp", f"{dp.minimum:.3f}%"), ("RMS Δp", f"{report.rms_delta_p_percent.text(3)} %"),
             ("same top", f"{report.same_top_percent.text(3)} %")]
    return rows
