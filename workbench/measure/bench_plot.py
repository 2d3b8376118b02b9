"""The load curve as a picture: aggregate tok/s, TTFT p50/p95 and ITL p95 against concurrency, one line per endpoint.

`sweep_figure` builds a matplotlib Figure (the object API, no pyplot: no global state, safe off the main thread);
`save_plot` writes it as SVG or PNG for `workbench bench --plot`, and the app puts the same Figure on a Qt canvas
(matplotlib's QtAgg backend), so the file and the window look alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

from ..errors import InvalidParameter, WorkbenchError
from .bench import LevelResult

FORMATS = (".svg", ".png")
PANELS = (  # (title, y label, [(LevelResult field, line style, legend suffix)], seconds → ms?)
    ("Throughput", "aggregate tok/s", [("tokens_per_second", "-", "")], False),
    ("Time to first token", "ms", [("ttft_p50", "-", " p50"), ("ttft_p95", "--", " p95")], True),
    ("Inter-token latency", "ms (p95)", [("itl_p95", "-", "")], True),
)


def sweep_figure(series: Mapping[str, Sequence[LevelResult]], figure: Figure | None = None) -> Figure:
    """Three panels side by side; `figure` is reused (cleared) when given, e.g. the app's canvas figure."""
    if not series or not any(series.values()):
        raise InvalidParameter("there is no sweep to plot: run at least one concurrency level")
    figure = figure if figure is not None else Figure(figsize=(12, 3.8), layout="constrained")
    figure.clear()
    axes = figure.subplots(1, len(PANELS))
    levels = sorted({level.concurrency for results in series.values() for level in results})
    for ax, (title, ylabel, lines, to_ms) in zip(axes, PANELS, strict=True):
        for color, (label, results) in zip(_colors(), series.items(), strict=False):
            for field, style, suffix in lines:
                points = [(r.concurrency, getattr(r, field)) for r in results if getattr(r, field) is not None]
                if points:
                    xs, ys = zip(*points, strict=True)
                    ax.plot(xs, [y * 1000 if to_ms else y for y in ys], style, marker="o", color=color,
                            label=label + suffix)
        _style_axis(ax, title, ylabel, levels)
    axes[0].legend(fontsize="small")
    if len(series) > 1 or any(len(lines) > 1 for _, _, lines, _ in PANELS):
        axes[1].legend(fontsize="small")
    return figure


def save_plot(series: Mapping[str, Sequence[LevelResult]], path: Path) -> Path:
    """Write the sweep as an SVG or PNG file (the suffix decides)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise InvalidParameter(f"--plot {path}: give a .svg or .png file name")
    try:
        sweep_figure(series).savefig(path, dpi=150)
    except OSError as exc:
        raise WorkbenchError(f"cannot write the plot to {path}: {exc.strerror or exc}") from None
    return path


def _style_axis(ax, title: str, ylabel: str, levels: list[int]) -> None:
    ax.set_title(title)
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel(ylabel)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(levels))  # the levels measured, not powers of two only
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)


def _colors() -> list[str]:
    return ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
