"""Where quantizations diverge: each compared pane's KL divergence from pane 1 along the text (pyqtgraph, one line
per pane) and the positions where it is largest, with their context and both models' most likely tokens; picking
a row marks its position on the plot.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.measure.quality import QualityResult

from .eval_chart import PALETTE

COLUMNS = ("pane", "token #", "KLD", "context → next token", "pane 1's top", "its top")


class DivergenceView(QWidget):
    def __init__(self):
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(150)
        self.plot.setLabel("left", "KL divergence (nats)")
        self.plot.setLabel("bottom", "token in the text")
        self.plot.showGrid(y=True, alpha=0.25)
        self.legend = self.plot.addLegend(offset=(-10, 10))
        self.marker = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))
        self.curves: dict[int, pg.PlotDataItem] = {}  # pane index -> its line (tests read the data)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._mark_selected)
        layout.addWidget(self.plot, 2)
        layout.addWidget(self.table, 1)
        self.hide()

    def show_result(self, result: QualityResult | None) -> None:
        """Draw a result's per-position KL divergences and worst positions; None (or nothing compared) hides it."""
        self.plot.clear()
        self.legend.clear()
        self.curves = {}
        self.table.setRowCount(0)
        compared = [(i, row) for i, row in enumerate(result.targets) if row.kld_per_position] if result else []
        if not compared:
            self.hide()
            return
        self.plot.setBackground(QApplication.palette().color(QPalette.ColorRole.Base))
        xs = np.array(result.scored_token_indices(), dtype=float)
        for n, (index, row) in enumerate(compared):
            pen = pg.mkPen(PALETTE[n % len(PALETTE)], width=1)
            self.curves[index] = self.plot.plot(xs, np.array(row.kld_per_position), pen=pen,
                                                name=f"{index + 1}. {row.target}")
        self.plot.addItem(self.marker)
        self.marker.hide()
        worst = sorted(((index, w) for index, row in compared for w in row.worst), key=lambda e: -e[1].kld)
        self.table.setRowCount(len(worst))
        for r, (index, w) in enumerate(worst):
            cells = (str(index + 1), str(w.token_index), f"{w.kld:.4f}", f"…{w.context[-50:]!r} → {w.token!r}",
                     _tops(w.reference_top), _tops(w.candidate_top))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, w.token_index)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.show()

    def _mark_selected(self) -> None:
        items = self.table.selectedItems()
        if items:
            self.marker.setPos(items[0].data(Qt.ItemDataRole.UserRole))
            self.marker.show()


def _tops(top) -> str:
    return "  ".join(f"{text!r} {100 * p:.1f}%" for text, p in top)
