"""The Evals page: edit a suite, run it across its targets, read the matrix, compare with the baseline, export.

Left, the suite editor (validation underlined at its line) and the history of runs; right, Run / Stop with
progress, the matrix (rows = test cases, columns = targets, pass rate in each column's header; a cell opens
its output, assertions and diff to the baseline) and a chart of pass rate, tok/s and TTFT per target. A run is
`wb.evals.run` on the TaskRunner: its cells arrive one by one through a queued signal; it is compared with the
run tagged `baseline` ("Set as baseline"). A suite big enough to need it asks first, with the time estimate.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
)

from workbench.errors import NotFound, WorkbenchError
from workbench.evals import EvalCell, EvalRun, RunDiff, Suite, SuiteError, parse_suite
from workbench.evals.service import EXPORT_FORMATS, Estimate

from ..widgets.eval_cell_view import EvalCellView
from ..widgets.eval_chart import EvalChart
from ..widgets.eval_history import BASELINE_TAG, EvalHistory
from ..widgets.eval_matrix import EvalMatrix, suite_rows
from ..widgets.eval_progress import RunProgress, human_seconds
from ..widgets.layout import hrow, vcolumn
from ..widgets.suite_editor import SuiteEditor, starter_suite
from .base import Page

REPORT_FILTERS = {"md": "Markdown (*.md)", "html": "HTML (*.html)", "json": "JSON (*.json)", "csv": "CSV (*.csv)"}


def estimate_text(estimate: Estimate) -> str:
    time = (f"about {human_seconds(estimate.seconds)}" if estimate.seconds is not None
            else "an unknown time (a target has not been measured yet)")
    return f"This suite has {estimate.cells:,} cells: {time} on this machine. Run it?"


class EvalsPage(Page):
    name = "Evals"
    cell_stored = Signal(object)  # EvalCell, emitted on the runner's worker threads; queued to the GUI thread
    run_finished = Signal(object)  # the EvalRun shown after a run ended (None when it failed to start)

    def __init__(self, window):
        super().__init__(window)
        self.suites_dir = self.wb.paths.data / "suites"
        self.task = None
        self.live_run_id: int | None = None  # the run the task is filling
        self.shown_run: EvalRun | None = None
        self.diff: RunDiff | None = None  # the shown run against its baseline
        self.confirm_box: QMessageBox | None = None
        self.closing = False
        self.cell_views: list[EvalCellView] = []
        self.cell_stored.connect(self._on_cell)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._build_left())
        split.addWidget(self._build_right())
        split.setSizes([430, 740])
        layout = hrow(split)
        layout.setContentsMargins(0, 0, 0, 0)
        self.setLayout(layout)
        self.new_suite()
        self.refresh_history()

    def _build_left(self) -> QSplitter:
        self.title = QLabel()
        self.editor = SuiteEditor(self.suites_dir)
        self.editor.validated.connect(lambda _d: self._update_buttons())
        self.editor.text.modificationChanged.connect(lambda _m: self._update_title())
        buttons = [QPushButton(text, clicked=slot) for text, slot in
                   (("New", self.choose_new), ("Open…", self.choose_open), ("Save", self.save),
                    ("Save as…", self.choose_save_as))]
        self.history = EvalHistory()
        self.history.run_selected.connect(self.show_run)
        self.history.baseline_button.clicked.connect(self.set_baseline)
        self.history.export_button.clicked.connect(self.choose_export)
        self.history.resume_button.clicked.connect(self.resume_selected)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(vcolumn(hrow((self.title, 1), *buttons), (self.editor, 1)))
        split.addWidget(self.history)
        split.setSizes([520, 230])
        return split

    def _build_right(self) -> QSplitter:
        self.targets = QLineEdit(placeholderText="the suite's targets")
        self.targets.setToolTip("Run on other targets, comma-separated (presets: name, name@3, name:tag; "
                                "library models; remote:NAME for a remote endpoint from Settings); empty: the "
                                "suite's own")
        self.allow_code = QCheckBox("Allow code")
        self.allow_code.setToolTip("Let the suite's python assertions run: they execute its author's code")
        self.run_button = QPushButton("Run", clicked=lambda: self.run())
        self.stop_button = QPushButton("Stop", clicked=self.stop)
        self.progress = RunProgress()
        self.summary = QLabel(wordWrap=True)
        self.matrix = EvalMatrix()
        self.matrix.cell_opened.connect(self.open_cell)
        self.chart = EvalChart()
        controls = vcolumn(hrow(QLabel("Targets"), (self.targets, 1), self.allow_code, self.run_button,
                                self.stop_button),
                           self.progress, self.summary, (self.matrix, 1))
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(controls)
        split.addWidget(self.chart)
        split.setSizes([500, 260])
        return split

    # -- window hooks ------------------------------------------------------------------------------------
    def focus_search(self) -> None:
        self.history.table.setFocus()

    def library_changed(self) -> None:  # the bundled model arrived: the untouched starter names it
        if self.editor.path is None and not self.editor.modified and self.task is None:
            self.new_suite()

    def window_closing(self) -> None:
        self.closing = True  # the run's end arrives after the core closed: nothing more to show
        self.stop()

    # -- suite files -------------------------------------------------------------------------------------
    def new_suite(self) -> None:
        """A starter suite on the first preset (or library model), not saved until "Save"."""
        names = [p.name for p in self.wb.presets.list()] + [m.name for m in self.wb.library.list()]
        self.editor.new_suite(starter_suite(names[0] if names else "<a preset or library model>"))
        self._update_title()

    def _may_discard(self) -> bool:
        """True when the editor holds no unsaved edits, or the user agrees to drop them."""
        if not self.editor.modified:
            return True
        answer = QMessageBox.question(self, "Unsaved suite", "Drop the unsaved changes to this suite?",
                                      QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Discard

    def choose_new(self) -> None:
        if self._may_discard():
            self.new_suite()

    def choose_open(self) -> None:
        if not self._may_discard():
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open a suite", str(self._start_dir()), "Suites (*.yaml *.yml)")
        if path:
            self.open_suite(Path(path))

    def open_suite(self, path: Path) -> bool:
        try:
            self.editor.open_file(path)
        except (OSError, UnicodeDecodeError) as exc:
            self.window_.show_error("Open a suite", f"Cannot read {path}: {exc}")
            return False
        self._update_title()
        return True

    def save(self) -> Path | None:
        if self.editor.path is None:
            self.choose_save_as()
            return self.editor.path
        return self.save_to(self.editor.path)

    def choose_save_as(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the suite", str(self._start_dir() / "suite.yaml"),
                                              "Suites (*.yaml *.yml)")
        if path:
            self.save_to(Path(path))

    def save_to(self, path: Path) -> Path | None:
        try:
            written = self.editor.save_file(path)
        except OSError as exc:
            self.window_.show_error("Save the suite", f"Cannot write {path}: {exc}")
            return None
        self._update_title()
        return written

    def suite_file_changed(self, path: Path | None) -> None:
        """A suite file changed elsewhere (Compare's "Add to suite"): reload it if it is open and not edited."""
        if path is not None and self.editor.path is not None and not self.editor.modified and \
                Path(path).resolve() == self.editor.path.resolve():
            self.open_suite(self.editor.path)

    def _start_dir(self) -> Path:
        return self.editor.path.parent if self.editor.path else self.suites_dir

    def _update_title(self) -> None:
        name = self.editor.path.name if self.editor.path else "new suite (not saved)"
        self.title.setText(f"<b>{name}</b>{' *' if self.editor.modified else ''}")

    # -- running -----------------------------------------------------------------------------------------
    def run_suite_file(self, path: Path, targets: list[str] | None = None):
        """Open a suite file and run it, on `targets` instead of its own when given (the Presets page's hooks)."""
        if self.task is not None:
            self.summary.setText("A run is going: stop it first.")
            return None
        if not self.open_suite(path):
            return None
        self.targets.setText(", ".join(targets or []))
        return self.run()

    def parsed_suite(self) -> Suite | None:
        """The editor's suite with the Targets field applied, or None (the problem shown in the summary)."""
        try:
            suite = parse_suite(self.editor.plain_text(), self.editor.base_dir, path=self.editor.path)
            targets = [t.strip() for t in self.targets.text().split(",") if t.strip()]
            return suite.with_options(targets=targets or None)
        except SuiteError as exc:
            self.editor.validate_now()
            self.summary.setText(f"Not run: fix the suite first ({exc}).")
        except WorkbenchError as exc:
            self.summary.setText(f"Not run: {exc}")
        return None

    def run(self, *, confirmed: bool = False):
        """Start a run of the editor's suite; a suite big enough asks first (returns None until confirmed)."""
        if self.task is not None:
            return None
        suite = self.parsed_suite()
        if suite is None:
            return None
        if suite.needs_code() and not self.allow_code.isChecked():
            self.summary.setText("Not run: this suite has python assertions, which run its author's code. Tick "
                                 "\"Allow code\" if you trust it.")
            return None
        estimate = self.wb.evals.estimate(suite)
        if estimate.needs_confirmation and not confirmed:
            self._ask_to_run(estimate)
            return None
        return self._start(suite)

    def _ask_to_run(self, estimate: Estimate) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Run a large suite", estimate_text(estimate),
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.accepted.connect(lambda: self.run(confirmed=True))
        self.confirm_box = box
        box.open()

    def _start(self, suite: Suite, resume: int | None = None):
        baseline = self.baseline_id()
        self.matrix.show_layout(suite_rows(suite), [t.label for t in suite.targets])
        self.chart.show_targets([])
        self.live_run_id = resume
        self.summary.setText(f"Running {suite.cell_count} cells" +
                             (f" against the baseline (run {baseline})" if baseline is not None else ""))
        kwargs = {"resume": resume} if resume is not None else \
            {"baseline": baseline, "allow_code": self.allow_code.isChecked()}
        self.task = self.window_.runner.submit("Eval run", self.wb.evals.run, None if resume else suite,
                                               on_cell=self.cell_stored.emit, **kwargs)
        self.task.progress.connect(self.progress.show_progress)
        self.task.failed.connect(self._failed)
        self.task.done.connect(self._done)
        self._update_buttons()
        return self.task

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.progress.stopping()

    def resume_selected(self):
        run = self.history.selected_run()
        if run is None or self.task is not None:
            return None
        self.targets.clear()
        return self._start(self.wb.evals.suite_of(run.id), resume=run.id)

    def _on_cell(self, cell: EvalCell) -> None:
        self.live_run_id = cell.run_id
        self.matrix.set_cell(cell)

    def _failed(self, message: str, details: str) -> None:
        self.summary.setText(f"The run failed: {message}")
        if details:
            self.window_.show_error("Eval run", message, details)

    def _done(self) -> None:
        self.task = None
        if self.closing:
            return
        run_id = self.live_run_id
        if run_id is None:  # stopped or failed before any cell: the newest run is this one, if it was made
            runs = self.wb.evals.runs(1)
            run_id = runs[0].id if runs and runs[0].status != "complete" else None
        self.refresh_history(select=run_id)
        message = self.summary.text() if self.summary.text().startswith("The run failed") else None
        run = self.show_run(run_id) if run_id is not None else None
        if message:
            self.summary.setText(message)
        self._update_buttons()
        self.run_finished.emit(run)

    # -- showing runs ------------------------------------------------------------------------------------
    def refresh_history(self, select: int | None = None) -> None:
        self.history.show_runs(self.wb.evals.runs(), select=select)

    def baseline_id(self) -> int | None:
        try:
            return self.wb.evals.resolve_run(BASELINE_TAG)
        except NotFound:
            return None

    def show_run(self, run_id: int) -> EvalRun:
        """Fill the matrix, the column pass rates and the chart from a stored run, compared with its baseline."""
        run = self.wb.evals.get(run_id)
        suite = self.wb.evals.suite_of(run_id)
        baseline = run.baseline_run_id if run.baseline_run_id is not None else self.baseline_id()
        self.diff = self.wb.evals.diff(baseline, run_id) if baseline not in (None, run_id) else None
        changes = {c.key: c for c in self.diff_changes()}
        self.matrix.show_layout(suite_rows(suite), [t.label for t in suite.targets])
        for cell in self.wb.evals.cells(run_id):
            self.matrix.set_cell(cell, changes.get(cell.key))
        order = {t.label: i for i, t in enumerate(suite.targets)}
        summaries = sorted(run.targets, key=lambda t: order.get(t.target, len(order)))
        self.matrix.set_summaries(summaries)
        self.chart.show_targets(summaries)
        self.shown_run = run
        self.summary.setText(self._run_summary(run))
        self.history.select(run.id)
        return run

    def diff_changes(self) -> list:
        diff = self.diff
        return [*diff.regressions, *diff.fixes, *diff.changed_outputs] if diff is not None else []

    def _run_summary(self, run: EvalRun) -> str:
        text = f"Run {run.id} · {run.status} · {run.passed}/{run.done_cells} passed ({run.pass_rate:.0%})"
        if run.errors:
            text += f" · {run.errors} error(s)"
        diff = self.diff
        if diff is not None:
            text += (f" · against baseline run {diff.a.id}: {len(diff.regressions)} regression(s), "
                     f"{len(diff.fixes)} fix(es), {len(diff.changed_outputs)} changed output(s)")
        return text

    def open_cell(self, cell: EvalCell) -> EvalCellView:
        change = next((c for c in self.diff_changes() if c.key == cell.key), None)
        baseline = self.diff.a.id if self.diff is not None and cell.run_id == self.diff.b.id else None
        in_baseline = baseline is not None and cell.key not in self.diff.only_in_b
        view = EvalCellView(cell, change, baseline if in_baseline else None, self)
        self.cell_views = [v for v in self.cell_views if v.isVisible()] + [view]
        view.show()
        return view

    # -- baseline and export -----------------------------------------------------------------------------
    def set_baseline(self) -> EvalRun | None:
        run = self.history.selected_run() or self.shown_run
        if run is None:
            return None
        tagged = self.wb.evals.tag(run.id, BASELINE_TAG)
        self.refresh_history(select=run.id)
        self.show_run(run.id)
        self.summary.setText(f"Run {run.id} is the baseline now: later runs are compared with it.")
        return tagged

    def choose_export(self) -> None:
        run = self.history.selected_run() or self.shown_run
        if run is None:
            return
        path, chosen = QFileDialog.getSaveFileName(self, "Export the run", str(Path.home() / f"eval-run-{run.id}.md"),
                                                   ";;".join(REPORT_FILTERS.values()))
        if path:
            fmt = next((f for f, label in REPORT_FILTERS.items() if label == chosen), "md")
            self.export_to(Path(path), Path(path).suffix.lstrip(".").lower() or fmt)

    def export_to(self, path: Path, fmt: str) -> Path | None:
        run = self.history.selected_run() or self.shown_run
        if run is None or fmt not in EXPORT_FORMATS:
            self.summary.setText(f"Choose one of: {', '.join(REPORT_FILTERS)}")
            return None
        try:
            self.wb.evals.export(run.id, fmt, path)
        except (OSError, WorkbenchError) as exc:
            self.window_.show_error("Export the run", str(exc))
            return None
        self.summary.setText(f"Saved {path}")
        return path

    def _update_buttons(self) -> None:
        running = self.task is not None
        self.run_button.setEnabled(not running and not self.editor.errors)
        self.stop_button.setEnabled(running)
        self.targets.setEnabled(not running)
        self.allow_code.setEnabled(not running)
        self.history.set_busy(running)
