"""The chat page's side panel: what the session runs on, its system prompt and parameter overrides.

Each parameter field is empty when the session uses the preset's value (shown as the placeholder). Values are
checked with `workbench.modelfile.parameters.parse_parameter` — the same check a Modelfile PARAMETER or an API
`options` object gets — and an error is shown inline, naming the field, before anything is saved.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import InvalidParameter
from workbench.modelfile.parameters import PARAMETERS, parse_parameter

FIELDS = ("temperature", "top_k", "top_p", "min_p", "repeat_penalty", "num_predict", "seed", "num_ctx")


class ChatSettingsPanel(QWidget):
    apply_requested = Signal(str, dict)  # system prompt ("" = the preset's), parameter overrides

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.target = QLabel("No session")
        self.target.setWordWrap(True)
        layout.addWidget(self.target)
        layout.addWidget(QLabel("System prompt (empty: the preset's)"))
        self.system = QPlainTextEdit()
        self.system.setMaximumHeight(120)
        layout.addWidget(self.system)
        box = QGroupBox("Parameters (empty: the preset's)")
        form = QFormLayout(box)
        self.fields: dict[str, QLineEdit] = {}
        for name in FIELDS:
            edit = QLineEdit()
            edit.setToolTip(f"{PARAMETERS[name].description} · {PARAMETERS[name].range_text()}")
            self.fields[name] = edit
            form.addRow(name, edit)
        layout.addWidget(box)
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setStyleSheet("color: #c0392b")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        self.apply_button = QPushButton("Apply to session")
        self.apply_button.clicked.connect(self.apply)
        layout.addWidget(self.apply_button)
        layout.addStretch(1)
        self.setEnabled(False)

    def load(self, target_text: str, system: str | None, preset_system: str | None, overrides: dict,
             base: dict) -> None:
        """Show a session: its overrides in the fields, the preset's values as placeholders."""
        self.setEnabled(True)
        self.target.setText(target_text)
        self.system.setPlainText(system or "")
        self.system.setPlaceholderText(preset_system or "")
        for name, edit in self.fields.items():
            edit.setText("" if overrides.get(name) is None else str(overrides[name]))
            edit.setPlaceholderText("" if base.get(name) is None else str(base[name]))
        self.error.clear()

    def values(self) -> dict:
        """The overrides in the fields, parsed; InvalidParameter (naming the field) for a bad one."""
        values = {}
        for name, edit in self.fields.items():
            text = edit.text().strip()
            if text:
                values[name] = parse_parameter(name, text)
        return values

    def apply(self) -> None:
        try:
            values = self.values()
        except InvalidParameter as exc:
            self.error.setText(str(exc))
            return
        self.error.clear()
        self.apply_requested.emit(self.system.toPlainText(), values)
