"""The Server page: start and stop the OpenAI/Ollama-compatible endpoint inside the app, and watch it.

The endpoint runs over the window's own Workbench, so HTTP clients and the Chat page share one Runtime and, with
the app's reproducible setting, one loaded model (docs/design.md §1). Start and stop run on the TaskRunner; a
QTimer polls key metrics and the request log (never prompt text); `window.endpoint` is the running server.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.serve.config import MAX_PARALLEL, ServeConfig, is_loopback

from ..widgets.bench_panel import BenchPanel
from .base import Page

if TYPE_CHECKING:
    from workbench.app import Workbench

DEFAULTS = ServeConfig()
POLL_MS = 500
LOG_ROWS = 200
LOG_COLUMNS = ("time", "client", "route", "model", "status", "prompt", "completion", "TTFT", "tok/s", "finish")
WARNING = ("⚠ Bound beyond loopback: other machines on the network can reach this endpoint. Requests need the "
           "API key; keep it secret, and prefer 127.0.0.1 unless you really serve others.")


def _start_endpoint(wb: Workbench, config):
    """Worker side: build the app (the first time imports FastAPI/uvicorn) and bind; the running server."""
    from workbench.serve.server import EndpointServer

    return EndpointServer(wb, config).start()


class ServerPage(Page):
    name = "Server"

    def __init__(self, window):
        super().__init__(window)
        self.server = None  # the running EndpointServer
        self.task = None
        self._shown_log: tuple | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(self._build_config())
        layout.addWidget(self._build_status())
        self.log_table = QTableWidget(0, len(LOG_COLUMNS))
        self.log_table.setHorizontalHeaderLabels(LOG_COLUMNS)
        self.log_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.log_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(QLabel("<b>Requests</b> (newest first; no prompt or completion text is kept)"))
        layout.addWidget(self.log_table, 1)
        self.bench = BenchPanel(self.wb, window)  # ui/widgets/bench_panel.py: the load curve with a Run button
        layout.addWidget(self.bench, 1)
        self.timer = QTimer(self, interval=POLL_MS, timeout=self.poll)
        self._update_warning()
        self._set_running(False)

    def _build_config(self) -> QWidget:
        box = QGroupBox("Endpoint")
        form = QFormLayout(box)
        self.host = QComboBox(editable=True)
        self.host.addItems([DEFAULTS.host, "localhost", "0.0.0.0", "::1"])
        self.host.currentTextChanged.connect(self._update_warning)
        self.port = QSpinBox(minimum=0, maximum=65535, value=DEFAULTS.port, specialValueText="any free port")
        self.api_key = QLineEdit(echoMode=QLineEdit.EchoMode.Password, placeholderText="none (loopback only)")
        generate = QPushButton("Generate", clicked=lambda: self.api_key.setText(secrets.token_urlsafe(24)))
        show = QCheckBox("show", toggled=lambda on: self.api_key.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        key_row = QHBoxLayout()
        for widget in (self.api_key, generate, show):
            key_row.addWidget(widget)
        self.cors = QLineEdit(placeholderText="exact origins, comma-separated (e.g. http://localhost:3000)")
        self.parallel = QSpinBox(minimum=0, maximum=MAX_PARALLEL, value=DEFAULTS.parallel or 0,
                                 specialValueText="settings default")
        self.reproducible = QCheckBox("Reproducible output (shares the chat's loaded model)")
        self.reproducible.setChecked(self.wb.settings.reproducible)
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("API key", key_row)
        form.addRow("CORS origins", self.cors)
        form.addRow("Slots per model", self.parallel)
        form.addRow("", self.reproducible)
        self.warning = QLabel(WARNING, wordWrap=True)
        self.warning.setStyleSheet("color: #b9770e")
        form.addRow(self.warning)
        self.error = QLabel(wordWrap=True)
        self.error.setStyleSheet("color: #c0392b")
        form.addRow(self.error)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start", clicked=self.start)
        self.stop_button = QPushButton("Stop", clicked=self.stop)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        form.addRow(buttons)
        return box

    def _build_status(self) -> QWidget:
        box = QGroupBox("Now")
        grid = QGridLayout(box)
        self.url_label = QLabel("off")
        self.copy_button = QPushButton("Copy URL", clicked=self.copy_url)
        grid.addWidget(QLabel("URL"), 0, 0)
        grid.addWidget(self.url_label, 0, 1)
        grid.addWidget(self.copy_button, 0, 2)
        self.metric_labels: dict[str, QLabel] = {}
        for column, (key, title) in enumerate((("requests", "Requests"), ("tokens_per_second", "Tokens/s"),
                                               ("busy_slots", "Busy slots"), ("queue_depth", "Queue"),
                                               ("in_flight", "In flight"), ("errors", "Errors"))):
            grid.addWidget(QLabel(title), 1, column)
            self.metric_labels[key] = QLabel("-")
            grid.addWidget(self.metric_labels[key], 2, column)
        return box

    # -- configuration -----------------------------------------------------------------------------------
    def config(self):
        """The ServeConfig in the fields, validated (InvalidParameter names the bad field)."""
        origins = tuple(o.strip() for o in self.cors.text().split(",") if o.strip())
        return ServeConfig(host=self.host.currentText().strip(), port=self.port.value(),
                           api_key=self.api_key.text() or None, cors_origins=origins,
                           parallel=self.parallel.value() or None,
                           reproducible=self.reproducible.isChecked()).validate()

    def _update_warning(self) -> None:
        self.warning.setVisible(not is_loopback(self.host.currentText().strip()))

    # -- start / stop ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.server is not None or self.task is not None:
            return
        try:
            config = self.config()
        except WorkbenchError as exc:
            self.error.setText(str(exc))
            return
        self.error.clear()
        self._busy("Starting…")
        self.task = self.window_.runner.submit("Start the endpoint", _start_endpoint, self.wb, config,
                                               progress=False)
        self.task.finished.connect(self._started)
        self.task.failed.connect(self._start_failed)

    def _started(self, server) -> None:
        self.task = None
        self.server = self.window_.endpoint = server
        self._shown_log = None
        self._set_running(True)
        self.timer.start()
        self.poll()
        self.window_.update_status()

    def _start_failed(self, message: str, details: str) -> None:
        self.task = None
        self._set_running(False)
        self.error.setText(message)
        if details:
            self.window_.show_error("Endpoint", message, details)

    def stop(self) -> None:
        if self.server is None or self.task is not None:
            return
        self._busy("Stopping…")
        self.task = self.window_.runner.submit("Stop the endpoint", self.server.stop, progress=False)
        self.task.done.connect(self._stopped)

    def _stopped(self) -> None:
        self.task = None
        self.poll()  # the last requests, cancelled by the stop, are in the log now
        self.timer.stop()
        self.server = self.window_.endpoint = None
        self._set_running(False)
        self.window_.update_status()

    def window_closing(self) -> None:
        """The window is closing: stop the endpoint here and now (its streams end "cancelled")."""
        self.timer.stop()
        if self.server is not None:
            self.server.stop()
            self.server = self.window_.endpoint = None

    def _busy(self, text: str) -> None:
        self.url_label.setText(text)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(False)

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.copy_button.setEnabled(running)
        for widget in (self.host, self.port, self.api_key, self.cors, self.parallel, self.reproducible):
            widget.setEnabled(not running)
        self.url_label.setText(self.server.url if running else "off")

    def copy_url(self) -> None:
        if self.server is not None:
            QGuiApplication.clipboard().setText(self.server.url)

    # -- live figures ------------------------------------------------------------------------------------
    def poll(self) -> None:
        if self.server is None:
            return
        state = self.server.state
        metrics = state.key_metrics()
        for key, label in self.metric_labels.items():
            value = getattr(metrics, key)
            label.setText(f"{value:.1f}" if isinstance(value, float) else str(value))
        records = state.request_log(LOG_ROWS)
        marker = (len(records), records[-1]) if records else (0, None)
        if marker != self._shown_log:  # redraw only when a request was added
            self._shown_log = marker
            self._fill_log(records[::-1])

    def _fill_log(self, records) -> None:
        self.log_table.setRowCount(len(records))
        for row, r in enumerate(records):
            cells = (time.strftime("%H:%M:%S", time.localtime(r.time)), r.client, r.route, r.model, str(r.status),
                     str(r.prompt_tokens), str(r.completion_tokens),
                     "-" if r.ttft_seconds is None else f"{r.ttft_seconds:.3f} s",
                     "-" if r.tokens_per_second is None else f"{r.tokens_per_second:.1f}", r.finish_reason or "-")
            for column, text in enumerate(cells):
                self.log_table.setItem(row, column, QTableWidgetItem(text))
