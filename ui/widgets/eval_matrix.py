"""The results matrix of an eval run: one row per test case (× prompt × repeat), one column per target.

A cell shows its verdict (pass / fail / error, coloured) and, against a baseline run, what changed: ↓ for a cell
that passed there and fails now, ↑ for a fix, ≠ for a new output with the same verdict. A column header carries
its target's pass rate. Cells arrive one by one while a run goes (`set_cell`); activating one (double click or
Enter) emits `cell_opened` with the EvalCell.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from workbench.evals import CellChange, EvalCell, TargetSummary

from ..theme import is_dark

CELL_ROLE = Qt.ItemDataRole.UserRole
STATUS_TEXT = {"passed": "✓ pass", "failed": "✗ fail", "error": "⚠ error"}
COLOURS = {"passed": ("#d7f5dd", "#1f4d2b"), "failed": ("#fadada", "#5c2626"), "error": ("#fde8c8", "#5c4020"),
           "pending": ("#f0f0f0", "#34363b")}


@dataclass(frozen=True)
class RowKey:
    prompt: int
    test: int
    repeat: int


def row_label(description: str, prompt_label: str | None, repeat: int, repeats: int) -> str:
    label = f"[{prompt_label}] {description}" if prompt_label else description
    return f"{label}  #{repeat + 1}" if repeats > 1 else label


def suite_rows(suite) -> list[tuple[RowKey, str]]:
    """The rows of a suite (workbench.evals.Suite): each test case, per prompt when there are several, per repeat."""
    prompts = suite.prompts
    return [(RowKey(p, t, r), row_label(test.description or test.id, prompts[p].label if len(prompts) > 1 else None,
                                        r, suite.repeat))
            for t, test in enumerate(suite.tests) for p in range(len(prompts)) for r in range(suite.repeat)]


def change_mark(change: CellChange | None) -> str:
    if change is None:
        return ""
    if change.regression:
        return "  ↓"
    if change.fix:
        return "  ↑"
    return "  ≠"


class EvalMatrix(QTableWidget):
    cell_opened = Signal(object)  # EvalCell

    def __init__(self):
        super().__init__(0, 0)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setMinimumSectionSize(90)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.verticalHeader().setMaximumWidth(360)
        self.rows: dict[RowKey, int] = {}
        self.targets: list[str] = []
        self.cellActivated.connect(self._activated)
        self.cellDoubleClicked.connect(self._activated)

    def show_layout(self, rows: list[tuple[RowKey, str]], targets: list[str]) -> None:
        """Empty the matrix and lay out its rows (key, label) and target columns; every cell pending."""
        self.clear()
        self.rows = {key: i for i, (key, _label) in enumerate(rows)}
        self.targets = list(targets)
        self.setRowCount(len(rows))
        self.setColumnCount(len(targets))
        self.setVerticalHeaderLabels([label for _key, label in rows])
        self.setHorizontalHeaderLabels(targets)
        for row in range(len(rows)):
            for column in range(len(targets)):
                self._put(row, column, "…", "pending", None, "not run yet")

    def set_cell(self, cell: EvalCell, change: CellChange | None = None) -> None:
        row = self.rows.get(RowKey(cell.prompt_index, cell.test_index, cell.repeat))
        if row is None or cell.target_index >= self.columnCount():
            return
        text = STATUS_TEXT.get(cell.status, cell.status) + change_mark(change)
        tip = cell.error or cell.output[:400] or "(empty output)"
        if change is not None:
            tip = f"was {change.before_status} in the baseline\n\n{tip}"
        self._put(row, cell.target_index, text, cell.status, cell, tip)

    def set_summaries(self, summaries: list[TargetSummary]) -> None:
        """Each column header: the target and its pass rate over its finished cells."""
        by_name = {s.target: s for s in summaries}
        for column, target in enumerate(self.targets):
            summary = by_name.get(target)
            text = target
            if summary is not None and summary.cells:
                text += f"\n{summary.passed}/{summary.cells} passed · {summary.pass_rate:.0%}"
            self.setHorizontalHeaderItem(column, QTableWidgetItem(text))

    def header_text(self, column: int) -> str:
        item = self.horizontalHeaderItem(column)
        return item.text() if item is not None else ""

    def cell_at(self, row: int, column: int) -> EvalCell | None:
        item = self.item(row, column)
        return item.data(CELL_ROLE) if item is not None else None

    def texts(self) -> list[list[str]]:
        """What every cell shows, row by row (tests and screenshots read it)."""
        return [[self.item(r, c).text() for c in range(self.columnCount())] for r in range(self.rowCount())]

    def _put(self, row: int, column: int, text: str, status: str, cell: EvalCell | None, tip: str) -> None:
        item = QTableWidgetItem(text)
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        light, dark = COLOURS.get(status, COLOURS["pending"])
        item.setBackground(QBrush(QColor(dark if is_dark() else light)))
        item.setData(CELL_ROLE, cell)
        item.setToolTip(tip)
        self.setItem(row, column, item)

    def _activated(self, row: int, column: int) -> None:
        cell = self.cell_at(row, column)
        if cell is not None:
            self.cell_opened.emit(cell)
