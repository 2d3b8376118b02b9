"""The history of eval runs: one row per run (newest first) with its verdict counts and tags, and what to do with one.

Selecting a row emits `run_selected(run_id)`; the buttons act on the selected run: "Set as baseline" (the
`baseline` tag moves to it), "Export…" (md / html / json / csv) and "Resume" (a cancelled or interrupted run).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QTableWidgetItem, QVBoxLayout, QWidget

from workbench.evals import EvalRun

from .layout import hrow, list_table

BASELINE_TAG = "baseline"


def run_row(run: EvalRun) -> list[str]:
    counts = f"{run.passed}/{run.done_cells}" + (f" of {run.total_cells}" if run.done_cells < run.total_cells else "")
    return [f"#{run.id} {run.description or '(no description)'}", f"{run.created_at:%m-%d %H:%M}",
            f"{counts} · {run.pass_rate:.0%}", run.status, ", ".join(run.tags)]


class EvalHistory(QWidget):
    run_selected = Signal(int)

    def __init__(self):
        super().__init__()
        self.table = list_table(["run", "started", "passed", "status", "tags"])
        self.table.itemSelectionChanged.connect(self._selected)
        self.runs: list[EvalRun] = []
        self.baseline_button = QPushButton("Set as baseline")
        self.baseline_button.setToolTip("Tag the selected run `baseline`: later runs are compared with it")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the selected run's report: Markdown, HTML, JSON or CSV")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Run the cells a cancelled or interrupted run did not finish")
        self.busy = False  # a run is going: nothing is resumed meanwhile
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Runs</b>"))
        layout.addWidget(self.table, 1)
        layout.addLayout(hrow(self.baseline_button, self.export_button, self.resume_button))
        self._update_buttons()

    def show_runs(self, runs: list[EvalRun], select: int | None = None) -> None:
        self.table.blockSignals(True)
        self.runs = list(runs)
        self.table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            for column, text in enumerate(run_row(run)):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, run.id)
                if BASELINE_TAG in run.tags:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, column, item)
        self.table.clearSelection()
        self.table.blockSignals(False)
        if select is not None:
            self.select(select)
        self._update_buttons()

    def select(self, run_id: int) -> None:
        """Select a run's row without emitting `run_selected` (the page is showing it already)."""
        ids = [run.id for run in self.runs]
        if run_id in ids:
            self.table.blockSignals(True)
            self.table.selectRow(ids.index(run_id))
            self.table.blockSignals(False)
        self._update_buttons()

    def selected_run(self) -> EvalRun | None:
        rows = self.table.selectionModel().selectedRows()
        return self.runs[rows[0].row()] if rows else None

    def set_busy(self, busy: bool) -> None:
        """While a run goes the matrix is its: no other run can be picked."""
        self.busy = busy
        self.table.setEnabled(not busy)
        self._update_buttons()

    def _selected(self) -> None:
        run = self.selected_run()
        self._update_buttons()
        if run is not None:
            self.run_selected.emit(run.id)

    def _update_buttons(self) -> None:
        run = self.selected_run()
        self.baseline_button.setEnabled(run is not None and BASELINE_TAG not in run.tags)
        self.export_button.setEnabled(run is not None)
        self.resume_button.setEnabled(run is not None and not self.busy and run.status in ("cancelled", "interrupted"))
