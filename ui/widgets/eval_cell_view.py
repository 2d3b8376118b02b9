"""One eval cell opened from the matrix: its output, every assertion with score and reason, its diff to the baseline.

A non-modal dialog, so several cells can be open side by side. The figures line carries what produced the
output (tokens, TTFT, tok/s, finish reason, seed, model) from the cell's stored provenance.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
)

from workbench.evals import CellChange, EvalCell

from ..theme import is_dark
from .diff_view import DiffView
from .eval_matrix import COLOURS, STATUS_TEXT


def figures_text(cell: EvalCell) -> str:
    parts = []
    if cell.completion_tokens is not None:
        parts.append(f"{cell.prompt_tokens or 0} prompt + {cell.completion_tokens} output tokens")
    if cell.ttft_seconds is not None:
        parts.append(f"TTFT {1000 * cell.ttft_seconds:.0f} ms")
    if cell.tokens_per_second is not None:
        parts.append(f"{cell.tokens_per_second:.1f} tok/s")
    if cell.finish_reason:
        parts.append(f"finish: {cell.finish_reason}")
    provenance = cell.provenance or {}
    if provenance.get("seed") is not None:
        parts.append(f"seed {provenance['seed']}")
    if provenance.get("model_sha256"):
        parts.append(f"model {str(provenance['model_sha256'])[:12]}")
    return " · ".join(parts)


def baseline_text(cell: EvalCell, change: CellChange | None, baseline_id: int | None) -> str:
    if baseline_id is None:
        return "No baseline to compare with: \"Set as baseline\" on a run makes later runs compare against it."
    if change is None:
        return f"Same verdict and output as in the baseline (run {baseline_id})."
    header = f"Baseline run {baseline_id}: {change.before_status} → now {change.after_status}\n"
    if change.before_output == change.after_output:
        return header + "The output is the same as in the baseline: the assertions changed."
    return header + (change.diff or "The outputs differ only in line endings or trailing whitespace.")


class EvalCellView(QDialog):
    def __init__(self, cell: EvalCell, change: CellChange | None, baseline_id: int | None, parent=None):
        super().__init__(parent)
        self.cell = cell
        self.setWindowTitle(f"{cell.target} · {cell.test_description}")
        self.resize(760, 560)
        status = STATUS_TEXT.get(cell.status, cell.status)
        vars_text = ", ".join(f"{k}={v!r}" for k, v in cell.vars.items())
        self.summary = QLabel(f"<b>{status}</b> · score {cell.score:.2f} · target <b>{cell.target}</b> · "
                              f"test {cell.test_description}" + (f" · vars: {vars_text}" if vars_text else ""),
                              wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.figures = QLabel(figures_text(cell), wordWrap=True)
        self.output = QPlainTextEdit(readOnly=True)
        self.output.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.output.setPlainText(cell.output if not cell.error else f"{cell.error}\n\n{cell.output}".strip())
        self.assertions = self._assertion_table(cell)
        self.diff = DiffView()
        self.diff.setPlainText(baseline_text(cell, change, baseline_id))
        self.tabs = QTabWidget()
        self.tabs.addTab(self.assertions, f"Assertions ({len(cell.assertions)})")
        self.tabs.addTab(self.diff, "Diff to baseline")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.output)
        split.addWidget(self.tabs)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.figures)
        layout.addWidget(split, 1)

    @staticmethod
    def _assertion_table(cell: EvalCell) -> QTableWidget:
        table = QTableWidget(len(cell.assertions), 4)
        table.setHorizontalHeaderLabels(["assertion", "verdict", "score", "reason"])
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setVisible(False)
        dark = is_dark()
        for row, result in enumerate(cell.assertions):
            verdict = "passed" if result.passed else "failed"
            kind = result.type + (f" ({result.metric})" if result.metric else "")
            for column, text in enumerate((kind, STATUS_TEXT[verdict], f"{result.score:.2f}", result.reason)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column == 1:
                    item.setBackground(QBrush(QColor(COLOURS[verdict][1 if dark else 0])))
                table.setItem(row, column, item)
        table.resizeColumnsToContents()
        return table

    def assertion_rows(self) -> list[tuple[str, str, str, str]]:
        """Every assertion row as shown (tests read it)."""
        table = self.assertions
        return [tuple(table.item(r, c).text() for c in range(4)) for r in range(table.rowCount())]  # type: ignore[misc]
