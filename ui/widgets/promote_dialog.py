"""The Presets page's "Promote…" dialog: write a preset version out for vLLM, TGI, llama-server or Ollama
(workbench.promote), into a folder the user picks, and show the files written and the caveats.

Writing takes milliseconds (no model bytes are copied), so it runs on the GUI thread; a WorkbenchError is shown
inline and nothing is left half-written (each file is written atomically).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from workbench.errors import WorkbenchError
from workbench.promote import ENGINES, promote

from .layout import hrow

if TYPE_CHECKING:
    from workbench.app import Workbench


class PromoteDialog(QDialog):
    def __init__(self, wb: Workbench, preset_ref: str, parent=None):
        super().__init__(parent)
        self.wb, self.preset_ref = wb, preset_ref
        self.result = None  # the last workbench.promote.Promotion
        self.setWindowTitle(f"Promote {preset_ref}")
        self.engine = QComboBox()
        self.engine.addItems(list(ENGINES))
        self.engine.currentTextChanged.connect(self._default_folder)
        self.folder = QLineEdit()
        browse = QPushButton("Choose…", clicked=self.choose_folder)
        self.write_button = QPushButton("Write files", clicked=self.write)
        self.report = QPlainTextEdit(readOnly=True)
        self.report.setMinimumSize(560, 200)
        form = QFormLayout()
        form.addRow("Engine", self.engine)
        form.addRow("Folder", hrow((self.folder, 1), browse))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Writes the model reference, chat template, sampling defaults, context, a compose "
                                "file, a Kubernetes Deployment and a README of caveats.", wordWrap=True))
        layout.addLayout(form)
        layout.addLayout(hrow(self.write_button, QPushButton("Close", clicked=self.accept)))
        layout.addWidget(self.report, 1)
        self._default_folder()

    def _default_folder(self) -> None:
        name = self.preset_ref.split("@")[0].split(":")[0]
        self.folder.setText(str(Path.home() / f"promote-{name}-{self.engine.currentText()}"))

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Promotion folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def write(self):
        try:
            self.result = promote(self.wb, self.preset_ref, self.engine.currentText(),
                                  Path(self.folder.text()).expanduser())
        except WorkbenchError as exc:
            self.report.setPlainText(f"Nothing written: {exc}")
            return None
        lines = [f"Wrote {len(self.result.files)} files to {self.result.folder}:", *self.result.files, "",
                 f"Model: {self.result.model_note}", "", "Caveats:", *[f"• {c}" for c in self.result.caveats]]
        self.report.setPlainText("\n".join(lines))
        return self.result
