"""A "make another quantization" row for the Compare page, so two quantizations can be compared from the window.

Runs `wb.library.quantize` (what `workbench quantize` runs: a child process with progress and cancel, the result
registered with its parent) on the TaskRunner. An already-quantized source (the bundled Q4_K_M model) can only be
requantized: the checkbox says so, and the new model is labelled requantized in the library.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

TYPES = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K")


class QuantizeRow(QWidget):
    created = Signal(object)  # the new LocalModel

    def __init__(self, window, parent: QWidget | None = None):
        super().__init__(parent)
        self.window_ = window
        self.task = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.source = QComboBox()
        self.source.setToolTip("The library model to quantize (best: an F16/F32 original)")
        self.qtype = QComboBox()
        self.qtype.addItems(TYPES)
        self.requantize = QCheckBox("allow requantizing (loses quality)")
        self.button = QPushButton("Make quantization", clicked=self.start)
        self.status = QLabel()
        for widget in (QLabel("Another quantization of"), self.source, QLabel("as"), self.qtype, self.requantize,
                       self.button, self.status):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.refresh()

    def refresh(self) -> None:
        current = self.source.currentText()
        self.source.clear()
        self.source.addItems([m.name for m in self.window_.wb.library.list()])
        if current:
            self.source.setCurrentText(current)

    def start(self):
        if self.task is not None or not self.source.currentText():
            return None
        self.button.setEnabled(False)
        self.status.setText("quantizing…")
        self.task = self.window_.runner.submit(
            "Quantize", self.window_.wb.library.quantize, self.source.currentText(), self.qtype.currentText(),
            allow_requantize=self.requantize.isChecked(), threads=self.window_.wb.settings.threads)
        self.task.progress.connect(lambda p: self.status.setText(f"{p.task}: {p.message.split(':')[0]}"))
        self.task.finished.connect(self._created)
        self.task.failed.connect(lambda message, _details: self.status.setText(message))
        self.task.done.connect(self._done)
        return self.task

    def _created(self, model) -> None:
        self.status.setText(f"added {model.name}" + (" (requantized)" if model.requantized else ""))
        self.created.emit(model)

    def _done(self) -> None:
        self.task = None
        self.button.setEnabled(True)
