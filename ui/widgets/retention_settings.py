"""The Settings page's "Data retention" panel: the `keep_*` limits (workbench/retention.py), a dry-run Preview of
what they would remove, and "Apply now".

Apply is a two-step confirmation without a dialog: it is enabled only after a Preview of exactly the limits on
screen (changing a field disables it again), then saves those limits and applies them on a TaskRunner worker,
cancellable between steps (Stop). The app and the endpoint also apply the saved limits at each start.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from workbench.retention import LIMITS, check_limits

from .layout import hrow

if TYPE_CHECKING:
    from workbench.app import Workbench

FOREVER = -1  # a spin box's lowest value, shown as its special text: no limit (None)
# limit -> (label, suffix, special text for "no limit")
FIELDS = {
    "keep_sessions_days": ("Chat sessions not changed for", " days", "keep for ever"),
    "keep_sessions_count": ("Chat sessions: keep only the newest", " sessions", "keep all"),
    "keep_eval_runs_days": ("Eval runs older than (tagged runs stay)", " days", "keep for ever"),
    "keep_eval_runs_count": ("Eval runs: keep only the newest", " runs", "keep all"),
    "keep_request_log_days": ("Endpoint request log older than", " days", "keep for ever"),
    "keep_audit_days": ("Audit events older than (behind a checkpoint)", " days", "keep for ever"),
    "keep_partial_pulls_days": ("Unfinished pulls not resumed for", " days", "keep for ever"),
}
assert set(FIELDS) == set(LIMITS)  # a new limit in retention.py needs a field here


class RetentionSettings(QWidget):
    def __init__(self, wb: Workbench, runner):
        super().__init__()
        self.wb, self.runner = wb, runner
        self.task = None  # the running (or last) preview or apply
        self._previewed: dict | None = None  # the limits the last finished preview was for
        self.boxes: dict[str, QSpinBox] = {}
        form = QFormLayout()
        for name, (label, suffix, special) in FIELDS.items():
            box = QSpinBox(minimum=FOREVER, maximum=100_000, suffix=suffix, specialValueText=special)
            box.valueChanged.connect(self._changed)
            self.boxes[name] = box
            form.addRow(label, box)
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip("What these limits would remove now; nothing is touched")
        self.preview_button.clicked.connect(self.preview)
        self.apply_button = QPushButton("Apply now")
        self.apply_button.setToolTip("Save these limits and remove what they exclude, for real")
        self.apply_button.clicked.connect(self.apply)
        self.stop_button = QPushButton("Stop", enabled=False)
        self.stop_button.clicked.connect(self.stop)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Data retention</b> — deleted for real; also applied at each start"))
        layout.addLayout(form)
        layout.addLayout(hrow(self.preview_button, self.apply_button, self.stop_button, (self.status, 1)))
        self.load()

    def load(self) -> None:
        """The saved limits into the fields."""
        for name, box in self.boxes.items():
            value = getattr(self.wb.settings, name)
            box.setValue(FOREVER if value is None else min(value, box.maximum()))
        self._changed()

    def limits(self) -> dict[str, int | None]:
        return {name: None if box.value() == FOREVER else box.value() for name, box in self.boxes.items()}

    def _changed(self) -> None:
        self._previewed = None
        self.apply_button.setEnabled(False)
        self.status.setText("Preview shows what these limits would remove; then Apply now.")

    def _busy(self, busy: bool) -> None:
        self.preview_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        for box in self.boxes.values():
            box.setEnabled(not busy)

    def preview(self) -> None:
        limits = self.limits()
        candidate = dataclasses.replace(self.wb.settings, **limits)
        check_limits(candidate)
        self._busy(True)
        self.status.setText("Looking…")
        self.task = self.runner.submit("previewing retention", self.wb.retention.plan, candidate, progress=False)
        self.task.finished.connect(lambda report: self._previewed_as(limits, report))
        self._connect_end(self.task)

    def _previewed_as(self, limits: dict, report) -> None:
        self._previewed = limits
        self.apply_button.setEnabled(True)
        self.status.setText(f"Applying these limits {report.summary()}.")

    def apply(self) -> None:
        limits = self.limits()
        if limits != self._previewed:  # only what was previewed, never limits changed since
            return
        self.wb.update_settings(**limits)
        self.apply_button.setEnabled(False)
        self._previewed = None
        self._busy(True)
        self.status.setText("Applying…")
        self.task = self.runner.submit("applying retention", self.wb.retention.apply)
        self.task.finished.connect(lambda report: self.status.setText(f"Done: {report.summary()}."))
        self.task.cancelled.connect(lambda: self.status.setText(
            "Stopped between two steps: what the finished steps removed is gone (and in the audit trail); "
            "the rest is left for the next Apply or start."))
        self._connect_end(self.task)

    def _connect_end(self, task) -> None:
        task.failed.connect(lambda message, _details: self.status.setText(f"Could not: {message}"))
        task.done.connect(lambda: self._busy(False))

    def stop(self) -> None:
        if self.task is not None and self.task.running:
            self.task.cancel()
