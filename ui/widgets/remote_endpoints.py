"""The Settings page's "Remote endpoints" panel: register, test and remove OpenAI-compatible servers (wb.remotes).

The key field is a password field whose text goes straight to `wb.remotes.add`, which keeps it in the OS keyring
(or a 0600 file where there is none — the panel says which); it is cleared after adding and never shown again.
Test sends one tiny request on a TaskRunner worker and shows the latency and what the server reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError

from .layout import hrow

if TYPE_CHECKING:
    from workbench.app import Workbench

COLUMNS = ("Name", "URL", "Model", "Key")


class RemoteEndpoints(QWidget):
    def __init__(self, wb: Workbench, runner):
        super().__init__()
        self.wb, self.runner = wb, runner
        self.task = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMaximumHeight(140)
        self.name = QLineEdit(placeholderText="name, e.g. vllm-fp16")
        self.url = QLineEdit(placeholderText="http://gpu-box:8000/v1")
        self.model = QLineEdit(placeholderText="model id the server knows")
        self.key = QLineEdit(placeholderText="API key (optional; kept in the OS keyring)")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add)
        self.test_button = QPushButton("Test")
        self.test_button.clicked.connect(self.test)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Remote endpoints</b> — usable as remote:NAME in Compare, Evals and bench"))
        layout.addWidget(self.table)
        layout.addLayout(hrow((self.name, 1), (self.url, 2), (self.model, 1), (self.key, 1), self.add_button))
        layout.addLayout(hrow(self.test_button, self.remove_button, (self.status, 1)))
        self.refresh()

    def refresh(self) -> None:
        try:
            remotes = self.wb.remotes.list()
        except WorkbenchError as exc:
            self.status.setText(str(exc))
            return
        self.table.setRowCount(len(remotes))
        for row, remote in enumerate(remotes):
            for column, text in enumerate((remote.name, remote.base_url, remote.model, remote.key_store or "-")):
                self.table.setItem(row, column, QTableWidgetItem(text))

    def selected(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), 0).text() if rows else None

    def add(self) -> None:
        try:
            endpoint = self.wb.remotes.add(self.name.text().strip(), self.url.text(), self.model.text(),
                                           key=self.key.text() or None)
        except WorkbenchError as exc:
            self.status.setText(f"Not added: {exc}")
            return
        self.key.clear()
        where = {"keyring": " Its key is in the OS keyring.", None: "",
                 "file": " No OS keyring here: its key is in remote-keys.json (mode 0600) in the config folder."}
        self.status.setText(f"Added remote:{endpoint.name}.{where[endpoint.key_store]}")
        self.refresh()

    def remove(self) -> None:
        name = self.selected()
        if name is None:
            self.status.setText("Select a remote first.")
            return
        self.wb.remotes.remove(name)
        self.status.setText(f"Removed remote:{name} and its key.")
        self.refresh()

    def test(self) -> None:
        name = self.selected()
        if name is None:
            self.status.setText("Select a remote first.")
            return
        self.status.setText(f"Testing remote:{name}…")
        self.test_button.setEnabled(False)
        self.task = self.runner.submit(f"test {name}", self.wb.remotes.test, name, progress=False)
        self.task.finished.connect(lambda answer: self.status.setText(_tested(name, answer)))
        self.task.failed.connect(lambda message, _details: self.status.setText(f"remote:{name} failed: {message}"))
        self.task.done.connect(lambda: self.test_button.setEnabled(True))


def _tested(name: str, answer) -> str:
    facts = answer.provenance
    return (f"remote:{name} answered in {answer.seconds * 1000:.0f} ms · server model "
            f"{facts.get('reported_model') or '-'} · fingerprint {facts.get('system_fingerprint') or '-'}")
