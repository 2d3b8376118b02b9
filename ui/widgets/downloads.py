"""The Hub page's downloads panel: one row per pull with a progress bar, rate, ETA and cancel / resume.

A pull runs `wb.hub.pull` on the TaskRunner; Cancel sets its CancelToken directly and the row turns "paused" with
Resume (the partial file stays, §5.4 of docs/design.md). Downloads stopped by a quit or a crash are listed again
from `wb.hub.pending_downloads()` when the panel opens, with Resume and Discard.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from workbench.hub.types import HubRef
from workbench.records import DownloadState
from workbench.tasks import Progress
from workbench.units import human_size

if TYPE_CHECKING:
    from workbench.app import Workbench

STOPPED = {"paused": "paused", "failed": "failed", "active": "interrupted (the app quit or crashed)"}


def ref_of(state: DownloadState) -> str:
    """The reference that resumes a stopped download: its exact file at its exact commit."""
    return str(HubRef(state.repo, filename=state.filename, revision=state.revision))


def kept_bytes(state: DownloadState) -> int:
    """What a resume starts from: the partial file's size (after a crash the store's count may be behind)."""
    try:
        return Path(state.partial_path).stat().st_size
    except OSError:
        return state.bytes_done


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def describe_progress(p: Progress) -> str:
    done = f"{human_size(p.completed)} of {human_size(p.total)}" if p.total else human_size(p.completed)
    rate = f"{human_size(int(p.rate))}/s" if p.rate else "–"
    text = f"{done} · {rate} · ETA {format_eta(p.eta_seconds)}"
    return f"{p.message} · {text}" if p.message else text


def _pending_downloads(wb: Workbench) -> list[DownloadState]:
    return wb.hub.pending_downloads()  # `wb.hub` itself is the slow import, so it is touched here, on the worker


class DownloadRow(QFrame):
    """One pull: title, bar, detail line and an action button whose meaning follows the state."""

    def __init__(self, panel: DownloadsPanel, ref: str, title: str):
        super().__init__()
        self.panel, self.ref, self.task, self.state = panel, ref, None, "new"
        self.state_key: str | None = None  # the downloads-table key once the store knows this download
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(f"<b>{title}</b>")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.detail = QLabel("")
        self.action = QPushButton("Cancel")
        self.action.clicked.connect(self._act)
        self.discard = QPushButton("Discard", visible=False)
        self.discard.clicked.connect(lambda: panel.discard(self))
        grid = QGridLayout(self)
        grid.addWidget(self.title, 0, 0, 1, 3)
        grid.addWidget(self.bar, 1, 0)
        grid.addWidget(self.action, 1, 1)
        grid.addWidget(self.discard, 1, 2)
        grid.addWidget(self.detail, 2, 0, 1, 3)

    def attach(self, task) -> None:
        self.task, self.state = task, "running"
        self.action.setText("Cancel")
        self.action.setEnabled(True)
        self.discard.setVisible(False)
        self.detail.setText("starting…")
        task.progress.connect(self.show_progress)

    def show_progress(self, p: Progress) -> None:
        if p.fraction is not None:
            self.bar.setValue(int(1000 * p.fraction))
        self.detail.setText(describe_progress(p))

    def stopped(self, status: str, detail: str) -> None:
        """Paused, failed or interrupted: the partial file is kept; offer Resume and Discard."""
        self.task, self.state = None, status
        self.action.setText("Resume")
        self.action.setEnabled(True)
        self.discard.setVisible(True)
        self.detail.setText(detail)

    def completed(self, model) -> None:
        self.task, self.state = None, "done"
        self.bar.setValue(1000)
        self.action.setVisible(False)
        self.discard.setVisible(False)
        self.detail.setText(f"done: registered as {model.name} ({human_size(model.size_bytes)})")

    def _act(self) -> None:
        if self.task is not None:
            self.action.setEnabled(False)  # until the worker notices the token
            self.detail.setText("cancelling…")
            self.task.cancel()
        else:
            self.panel.pull(self.ref)


class DownloadsPanel(QWidget):
    """Rows of pulls, newest first. `pull(ref)` starts (or resumes) one and returns its Task."""

    pulled = Signal(object)  # the LocalModel a pull registered

    def __init__(self, window):
        super().__init__()
        self.window_ = window
        self.wb = window.wb
        self.rows: dict[str, DownloadRow] = {}
        self._list = QVBoxLayout()
        self._list.addStretch()
        inner = QWidget()
        inner.setLayout(self._list)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(inner)
        self.empty = QLabel("No downloads yet: pick a file above and press Pull.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Downloads</b>"))
        layout.addWidget(self.empty)
        layout.addWidget(scroll, 1)

    def load_pending(self):
        """List downloads a quit, a crash or a cancel left part-way; returns the Task that reads them.

        On a worker: asking the Hub service imports huggingface_hub (~0.3 s), which must not delay the
        first window.
        """
        task = self.window_.runner.submit("Pending downloads", _pending_downloads, self.wb, progress=False)
        task.finished.connect(self.show_pending)
        return task

    def show_pending(self, states: list[DownloadState]) -> None:
        for state in states:
            ref = ref_of(state)
            row = self.rows.get(ref) or self._row(ref, f"{state.repo} / {state.filename}")
            if row.task is None:
                row.state_key = state.key
                row.stopped(state.status, self._stopped_text(state))
                if state.size_bytes:
                    row.bar.setValue(int(1000 * min(kept_bytes(state), state.size_bytes) / state.size_bytes))

    def pull(self, ref: str, title: str | None = None):
        row = self.rows.get(ref) or self._row(ref, title or ref)
        if row.task is not None:
            return row.task
        task = self.window_.runner.submit(f"Pulling {ref}", self.wb.hub.pull, ref)
        row.attach(task)
        task.finished.connect(lambda model: self._finished(row, model))
        task.cancelled.connect(lambda: self._stopped(row, "paused"))
        task.failed.connect(lambda message, details: self._failed(row, message, details))
        return task

    def discard(self, row: DownloadRow) -> None:
        key = row.state_key or self._key_for(row.ref)
        if key is not None:
            self.wb.hub.discard_download(key)
        self.rows.pop(row.ref, None)
        row.setParent(None)
        row.deleteLater()
        self.empty.setVisible(not self.rows)

    # -- internals ---------------------------------------------------------------------------------------
    def _row(self, ref: str, title: str) -> DownloadRow:
        row = DownloadRow(self, ref, title)
        self.rows[ref] = row
        self._list.insertWidget(0, row)
        self.empty.setVisible(False)
        return row

    def _finished(self, row: DownloadRow, model) -> None:
        row.completed(model)
        self.pulled.emit(model)
        self.window_.library_changed()

    def _stopped(self, row: DownloadRow, status: str) -> None:
        state = self._state_for(row.ref)
        row.state_key = state.key if state else None
        row.stopped(status, self._stopped_text(state) if state else "cancelled")

    def _failed(self, row: DownloadRow, message: str, details: str) -> None:
        self._stopped(row, "failed")
        row.detail.setText(f"failed: {message}")
        if details:  # not the user's doing: the full story goes to the error dialog and the log
            self.window_.show_error("Download failed", message, details)

    def _state_for(self, ref: str) -> DownloadState | None:
        for state in self.wb.hub.pending_downloads():
            if ref_of(state) == ref:
                return state
        return None

    def _key_for(self, ref: str) -> str | None:
        state = self._state_for(ref)
        return state.key if state else None

    @staticmethod
    def _stopped_text(state: DownloadState) -> str:
        kept = f"{human_size(kept_bytes(state))} of {human_size(state.size_bytes)} kept"
        error = f" ({state.error})" if state.status == "failed" and state.error else ""
        return f"{STOPPED.get(state.status, state.status)}{error}: {kept}, Resume continues from there"
