"""The Server page's "Load curve" panel: sweep concurrency against the running endpoint or a remote one and draw
the curve with the very figure `workbench bench --plot` saves (workbench/measure/bench_plot.py on matplotlib's
Qt canvas), so the app and the CLI's file look alike.

The sweep runs on a TaskRunner worker (workbench/measure/bench.py); Stop ends it after the level in flight.
A remote is resolved on the GUI thread first, so offline mode refuses it before any connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtWidgets import QComboBox, QGroupBox, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout

from workbench.errors import Cancelled, InvalidParameter, WorkbenchError

from .layout import hrow

if TYPE_CHECKING:
    from workbench.app import Workbench

LOCAL = "this app's endpoint"


def sweep(url: str, model: str, levels: list[int], max_tokens: int, key: str | None, *, on_progress, cancel):
    """Worker side: the sweep, one level after another; a cancel stops it between levels."""
    from workbench.measure.bench import run_sweep
    from workbench.tasks import Progress

    def level_done(level) -> None:
        on_progress(Progress("bench", levels.index(level.concurrency) + 1, len(levels), unit="levels"))
        if cancel.cancelled:
            raise Cancelled("the sweep was stopped")

    return run_sweep(url, model, levels, max_tokens=max_tokens, requests_per_client=1, chat=True, api_key=key,
                     on_level=level_done)


class BenchPanel(QGroupBox):
    def __init__(self, wb: Workbench, window):
        super().__init__("Load curve")
        self.wb, self.window_ = wb, window
        self.task = None
        self.series: dict[str, list] = {}  # label → LevelResults of the last finished sweep
        self.target = QComboBox()
        self.model = QLineEdit(placeholderText="model (for this app's endpoint: a preset or model name)")
        self.levels = QLineEdit("1,2,4,8")
        self.max_tokens = QSpinBox(minimum=1, maximum=4096, value=64)
        self.run_button = QPushButton("Run", clicked=self.run)
        self.stop_button = QPushButton("Stop", clicked=self.stop, enabled=False)
        self.status = QLabel("", wordWrap=True)
        self.canvas = FigureCanvasQTAgg(Figure(figsize=(9, 3), layout="constrained"))
        self.canvas.setMinimumHeight(220)
        layout = QVBoxLayout(self)
        layout.addLayout(hrow(QLabel("Against"), (self.target, 1), (self.model, 1), QLabel("clients"), self.levels,
                              QLabel("tokens"), self.max_tokens, self.run_button, self.stop_button))
        layout.addWidget(self.status)
        layout.addWidget(self.canvas, 1)
        self.refresh_targets()

    def showEvent(self, event) -> None:  # a remote added on the Settings page shows up here
        self.refresh_targets()
        super().showEvent(event)

    def refresh_targets(self) -> None:
        current = self.target.currentText()
        try:
            remotes = [r.ref for r in self.wb.remotes.list()]
        except WorkbenchError:
            remotes = []
        self.target.clear()
        self.target.addItems([LOCAL, *remotes])
        if current:
            self.target.setCurrentText(current)

    def _endpoint(self) -> tuple[str, str, str | None]:
        """(url, model, key) for the chosen target; InvalidParameter/OfflineError say what is missing."""
        from workbench.remote import remote_name

        name = remote_name(self.target.currentText())
        if name is not None:
            endpoint, key = self.wb.remotes.connect(name)
            return endpoint.base_url, self.model.text().strip() or endpoint.model, key
        server = self.window_.endpoint
        if server is None:
            raise InvalidParameter("start this app's endpoint first (above), or pick a remote")
        if not self.model.text().strip():
            raise InvalidParameter("name the model to load: a preset or a library model")
        return server.url, self.model.text().strip(), server.config.api_key

    def run(self):
        try:
            levels = [int(part) for part in self.levels.text().split(",") if part.strip()]
        except ValueError:
            self.status.setText("Clients: comma-separated whole numbers, e.g. 1,2,4,8")
            return None
        try:
            url, model, key = self._endpoint()
        except WorkbenchError as exc:
            self.status.setText(str(exc))
            return None
        label = self.target.currentText() if self.target.currentText() != LOCAL else f"{url} ({model})"
        self.status.setText(f"Sweeping {label}…")
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.task = self.window_.runner.submit("load curve", sweep, url, model, levels, self.max_tokens.value(), key)
        self.task.progress.connect(lambda p: self.status.setText(f"Sweeping {label}: {p.completed}/{p.total} "
                                                                 "levels done"))
        self.task.finished.connect(lambda results: self._draw(label, results))
        self.task.failed.connect(lambda message, _details: self.status.setText(f"The sweep failed: {message}"))
        self.task.cancelled.connect(lambda: self.status.setText("Stopped."))
        self.task.done.connect(self._idle)
        return self.task

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _idle(self) -> None:
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    def _draw(self, label: str, results) -> None:
        from workbench.measure.bench_plot import sweep_figure

        self.series = {label: results}
        sweep_figure(self.series, self.canvas.figure)
        self.canvas.draw_idle()
        best = max(results, key=lambda r: r.tokens_per_second)
        self.status.setText(f"{label}: best {best.tokens_per_second:.1f} tok/s at {best.concurrency} clients")
