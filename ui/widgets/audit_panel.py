"""The Settings page's "Audit trail" panel: the newest events, read-only, and a Verify button.

It reads through `wb.audit` like `workbench audit` does: the table is refreshed whenever the panel is shown (or
on Refresh / Enter in the kind filter), newest first. Verify recomputes the hash chain on a TaskRunner worker
(a long trail takes a moment) and says whether it is unbroken or which event breaks it, and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QHeaderView, QLabel, QLineEdit, QPushButton, QTableWidgetItem, QVBoxLayout, QWidget

from workbench.audit import details_line

from .layout import hrow, list_table

if TYPE_CHECKING:
    from workbench.app import Workbench

HEADERS = ["ID", "Time (UTC)", "Actor", "Kind", "Subject", "Details"]
SHOWN = 200


class AuditPanel(QWidget):
    def __init__(self, wb: Workbench, runner):
        super().__init__()
        self.wb, self.runner = wb, runner
        self.task = None  # the running (or last) verification
        self.kind = QLineEdit(placeholderText="all kinds — or a kind or prefix: preset., endpoint.request")
        self.kind.returnPressed.connect(self.refresh)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self.verify_button = QPushButton("Verify")
        self.verify_button.setToolTip("Recompute the hash chain over every event")
        self.verify_button.clicked.connect(self.verify)
        self.table = list_table(HEADERS)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(HEADERS) - 1, QHeaderView.ResizeMode.Stretch)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Audit trail</b> — append-only and hash-chained; nothing here can be edited"))
        layout.addLayout(hrow((self.kind, 1), refresh, self.verify_button))
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

    def showEvent(self, event) -> None:  # Qt calls it whenever the page comes up: show what is new
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        events = self.wb.audit.list(kind=self.kind.text().strip() or None, limit=SHOWN)[::-1]
        self.table.setRowCount(len(events))
        for row, e in enumerate(events):
            cells = (str(e.id), e.at[:19].replace("T", " "), f"{e.actor} · {e.os_user} · pid {e.pid}", e.kind,
                     e.subject, details_line(e.details))
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))

    def verify(self) -> None:
        self.verify_button.setEnabled(False)
        self.status.setText("Verifying…")
        self.task = self.runner.submit("verifying the audit trail", self.wb.audit.verify, progress=False)
        self.task.finished.connect(self._verified)
        self.task.failed.connect(lambda message, _details: self.status.setText(f"Could not verify: {message}"))
        self.task.done.connect(lambda: self.verify_button.setEnabled(True))

    def _verified(self, result) -> None:
        if result.ok:
            head = f" Head: event {result.head_id}, {result.head_hash}." if result.head_id else ""
            self.status.setText(f"Unbroken: {result.checked} event(s) checked.{head}")
            self.status.setStyleSheet("")
            return
        where = f"event {result.first_bad_id}: " if result.first_bad_id is not None else ""
        self.status.setText(f"Broken at {where}{result.problem} ({result.checked} event(s) before it verified)")
        self.status.setStyleSheet("color: #c62828;")
