"""A run's targets side by side in three bar charts: pass rate, tokens per second and time to first token.

Drawn with pyqtgraph (Qt-native, fed numpy arrays); one bar per target, the same colour for a target in every
chart, its value written above the bar. A target with no measured speed (every cell failed to run) has no bar.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from workbench.evals import TargetSummary

PALETTE = ("#3d7bd9", "#e07b39", "#2f9e6f", "#b0479b", "#c9a227", "#5b6ee1", "#d1495b", "#19a0a8")
CHARTS = (  # (title, unit, value of a TargetSummary)
    ("Pass rate", "%", lambda t: 100.0 * t.pass_rate if t.cells else None),
    ("Decode speed", "tok/s", lambda t: t.mean_tokens_per_second),
    ("Time to first token", "ms", lambda t: 1000.0 * t.mean_ttft_seconds if t.mean_ttft_seconds is not None
     else None),
)


def short_label(target: str, limit: int = 14) -> str:
    return target if len(target) <= limit else target[: limit - 1] + "…"


class EvalChart(pg.GraphicsLayoutWidget):
    def __init__(self):
        super().__init__()
        self.setMinimumHeight(170)
        self.plots: list[pg.PlotItem] = []
        self.values: dict[str, list[float | None]] = {}  # chart title -> one value per target (tests read it)
        self.apply_palette()
        for column, (title, unit, _value) in enumerate(CHARTS):
            plot = self.addPlot(row=0, col=column, title=f"{title} ({unit})")
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.showGrid(y=True, alpha=0.25)
            self.plots.append(plot)

    def apply_palette(self) -> None:
        palette = QApplication.palette()
        self.setBackground(palette.color(QPalette.ColorRole.Base))
        self.foreground = palette.color(QPalette.ColorRole.Text)

    def show_targets(self, targets: list[TargetSummary]) -> None:
        """Draw one bar per target in each chart (an empty list clears them)."""
        self.apply_palette()
        self.values = {}
        names = [short_label(t.target) for t in targets]
        ticks = [list(enumerate(names))]
        brushes = [QColor(PALETTE[i % len(PALETTE)]) for i in range(len(targets))]
        for plot, (title, _unit, value) in zip(self.plots, CHARTS, strict=True):
            plot.clear()
            values = [value(t) for t in targets]
            self.values[title] = values
            plot.getAxis("bottom").setTicks(ticks)
            for axis in ("bottom", "left"):
                plot.getAxis(axis).setTextPen(self.foreground)
            plot.setTitle(plot.titleLabel.text, color=self.foreground)
            present = [(i, v) for i, v in enumerate(values) if v is not None]
            if present:
                x = np.array([i for i, _v in present], dtype=float)
                heights = np.array([v for _i, v in present], dtype=float)
                plot.addItem(pg.BarGraphItem(x=x, height=heights, width=0.6, brushes=[brushes[i] for i, _ in present],
                                             pen=pg.mkPen(None)))
                for i, v in present:
                    label = pg.TextItem(f"{v:.0f}" if v >= 10 else f"{v:.2g}", color=self.foreground,
                                        anchor=(0.5, 1.0))
                    label.setPos(i, v)
                    plot.addItem(label)
            top = max((v for _i, v in present), default=1.0)
            plot.setYRange(0, 100 if title == "Pass rate" else top * 1.2 or 1.0, padding=0.02)
            plot.setXRange(-0.6, max(len(targets), 1) - 0.4, padding=0)
